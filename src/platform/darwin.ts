/**
 * macOS details that are not a trust store (tls/truststore/darwin.ts has the keychain). After gotunnel changes
 * /etc/hosts, macOS may go on answering from its resolver cache: a name added a moment ago can still fail with its
 * cached "no such host", a removed one still resolve. Apple's documented remedy ("Reset the DNS cache in macOS",
 * support.apple.com/HT202516) is both commands below; we run them through the runner seam and treat a failure as a
 * warning, because the hosts file itself is already right and the cache ages out on its own.
 */
import { type CommandRunner, formatCommand } from "./runner.ts";

/**
 * Flush Directory Services' cache, then make mDNSResponder (which also answers ordinary unicast DNS on macOS) drop
 * its cache on SIGHUP. Both need root for effect, which the process writing /etc/hosts has.
 */
export const DARWIN_RESOLVER_FLUSH: readonly (readonly string[])[] = [
  ["dscacheutil", "-flushcache"],
  ["killall", "-HUP", "mDNSResponder"],
];

/** Runs every flush command, even after one fails; resolves with one warning per failure (never throws). */
export async function flushDarwinResolverCache(runner: CommandRunner): Promise<string[]> {
  const warnings: string[] = [];
  for (const argv of DARWIN_RESOLVER_FLUSH) {
    const result = await runner.run([...argv]);
    if (result.code === 0) continue;
    const said = (result.stderr || result.stdout).trim().split("\n").slice(-1)[0];
    warnings.push(
      `the hosts file changed but \`${formatCommand([...argv])}\` exited with ${result.code}${said ? ` (${said})` : ""}: ` +
        "names may resolve from the old cache for a minute; run `sudo dscacheutil -flushcache; sudo killall -HUP mDNSResponder` to clear it",
    );
  }
  return warnings;
}
