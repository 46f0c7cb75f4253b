/**
 * A daemon with a LAN client: `gotunnel start` in namespace a of a netns pair (helpers/netns.ts), listening on
 * 0.0.0.0, which inside namespace a reaches only its veth to namespace b. Namespace b is the other machine on the
 * LAN; namespace a's own loopback is this machine's client. The default LAN policy (GOTUNNEL_LAN empty) applies.
 */
import { expect } from "bun:test";
import { BINARY, binaryEnv, type E2EScope, run } from "./e2e.ts";
import { createNetnsPair, type NetnsPair } from "./netns.ts";
import { requirement } from "./tools.ts";

/** Why a LAN-client test cannot run here: it needs two network namespaces and curl. */
function lanClientSkipReason(): string | undefined {
  if (process.platform !== "linux") return "needs Linux network namespaces";
  if (process.getuid?.() !== 0) return "needs root to create network namespaces (ip netns add)";
  const missing = ["ip", "curl"].filter((tool) => !Bun.which(tool));
  return missing.length > 0 ? `missing ${missing.join(", ")}: apt-get install -y iproute2 curl` : undefined;
}

export const lanClient = requirement(lanClientSkipReason());

export interface LanDaemon {
  pair: NetnsPair;
  /** The first line of `start --json`. */
  ready: { ports: { https: number; http: number }; ca: { path: string } };
  env: Record<string, string>;
  /** Runs argv in namespace a (this machine), with the daemon's environment. */
  inA(argv: string[]): ReturnType<typeof run>;
  /** Runs argv in namespace b (another machine on the LAN). */
  inB(argv: string[]): ReturnType<typeof run>;
}

/** `gotunnel start <args> --json` in namespace a under a fresh home; the scope removes the namespaces. */
export async function startLanDaemon(scope: E2EScope, args: string[]): Promise<LanDaemon> {
  const pair = createNetnsPair();
  scope.defer(() => pair.cleanup());
  const home = scope.dir("lan-home");
  // binaryEnv registers the home, so the scope stops its daemon before the namespaces go.
  const env = binaryEnv(home, {
    GOTUNNEL_LAN: "",
    GOTUNNEL_PROXY_HOST: "0.0.0.0",
    GOTUNNEL_PROXY_HTTPS_PORT: "0",
    GOTUNNEL_PROXY_HTTP_PORT: "0",
  });
  const inA = (argv: string[]) => run(pair.exec(pair.a.ns, argv), { env, timeoutMs: 30_000 });
  const inB = (argv: string[]) => run(pair.exec(pair.b.ns, argv), { env });
  const started = await inA(["sh", "-c", 'cd "$0" && exec "$@"', home, BINARY, "start", ...args, "--json"]);
  expect(started.exitCode).toBe(0);
  const ready = JSON.parse(started.stdout.split("\n")[0] ?? "") as LanDaemon["ready"];
  return { pair, ready, env, inA, inB };
}
