/**
 * portless (npm, on Node 24), the leading dev-proxy peer, as a target: `portless proxy start -p PORT --skip-trust
 * --foreground --tld local` with its own PORTLESS_STATE_DIR (its CA, certificates and routes) and
 * PORTLESS_SYNC_HOSTS=0 (it must not edit /etc/hosts), then `portless alias` for bench.local and bench-http.local.
 * It serves both over TLS on its one port (h2 and HTTP/1.1 by ALPN), with its own CA's certificate: the HTTP cells
 * are skipped by their sanity check unless it also answers plain HTTP there. Its per-request log goes to a file, as
 * gotunnel's does.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { HTTP_HOST, HTTPS_HOST } from "./certs.ts";
import { pinned } from "./cpu.ts";
import { installedPortless, NODE_FOR_PORTLESS_VERSION, PeersMissing, PORTLESS_VERSION } from "./peers.ts";
import { freePort, runOk, spawnManaged, stopManaged, waitForPorts } from "./proc.ts";
import { type BenchContext, type RunningTarget, SkipTarget } from "./target.ts";

const START_TIMEOUT_MS = 30_000;
const COMMAND_TIMEOUT_MS = 30_000;

/** Its environment: state and HOME in the bench's temp dir, hosts file untouched. */
export function portlessEnv(dir: string) {
  const home = join(dir, "home");
  mkdirSync(home, { recursive: true });
  return { HOME: home, PORTLESS_STATE_DIR: join(dir, "state"), PORTLESS_SYNC_HOSTS: "0" };
}

export function portlessCommands(): { node: string; cli: string } {
  try {
    return installedPortless();
  } catch (error) {
    if (error instanceof PeersMissing) throw new SkipTarget(error.message);
    throw error;
  }
}

export function portlessStart(node: string, cli: string, port: number): string[] {
  return [node, cli, "proxy", "start", "-p", String(port), "--skip-trust", "--foreground", "--tld", "local"];
}

/**
 * `portless alias <name> <port> --force`: a route to a server portless did not start (the name gets `.local`);
 * `--force` replaces the route a previous start in the same state dir left.
 */
export async function portlessAlias(context: BenchContext, env: Record<string, string>, name: string): Promise<void> {
  const { node, cli } = portlessCommands();
  await runOk([node, cli, "alias", name, String(context.upstreamPort), "--force"], COMMAND_TIMEOUT_MS, env);
}

export async function startPortless(context: BenchContext): Promise<RunningTarget> {
  const { node, cli } = portlessCommands();
  const dir = join(context.dir, "portless");
  const env = portlessEnv(dir);
  const port = freePort();
  const managed = spawnManaged("portless", pinned(context.cpus, "server", portlessStart(node, cli, port)), {
    env,
    logPath: join(dir, "proxy.log"),
    uncache: true,
  });
  try {
    await waitForPorts(managed, [port], START_TIMEOUT_MS);
    for (const host of [HTTPS_HOST, HTTP_HOST]) await portlessAlias(context, env, host.replace(/\.local$/, ""));
  } catch (error) {
    await stopManaged(managed);
    throw error;
  }
  return {
    name: "portless",
    endpoints: { http: { port, host: HTTP_HOST }, https: { port, host: HTTPS_HOST } },
    rssRoot: managed.pid,
    version: `portless ${PORTLESS_VERSION} on Node ${NODE_FOR_PORTLESS_VERSION}`,
    stop: () => stopManaged(managed),
  };
}
