/**
 * The one place that chooses what to do after the hosts file changed, per OS. Only macOS needs a step: its resolver
 * caches answers, /etc/hosts ones included (platform/darwin.ts). Linux's glibc reads /etc/hosts on every lookup, and
 * systemd-resolved and nscd watch it; Windows' DNS Client service reloads the hosts file when it changes.
 */
import { flushDarwinResolverCache } from "./darwin.ts";
import { type CommandRunner, systemRunner } from "./runner.ts";

/** Flushes this OS's resolver cache when it keeps one. Resolves with warnings for the log; never throws. */
export function flushResolverCache(
  platform: NodeJS.Platform = process.platform,
  runner: CommandRunner = systemRunner,
): Promise<string[]> {
  return platform === "darwin" ? flushDarwinResolverCache(runner) : Promise.resolve([]);
}

/**
 * flushResolverCache for a long-lived daemon: each distinct warning is returned once. A daemon that may write the
 * hosts file (an ACL) without being root gets the same refusal from `killall -HUP mDNSResponder` at every route
 * change, and one line in the log says all there is to say.
 */
export function resolverFlusher(
  platform: NodeJS.Platform = process.platform,
  runner: CommandRunner = systemRunner,
): () => Promise<string[]> {
  const said = new Set<string>();
  return async () => {
    const fresh = (await flushResolverCache(platform, runner)).filter((warning) => !said.has(warning));
    for (const warning of fresh) said.add(warning);
    return fresh;
  };
}
