/**
 * portless (npm), the peer issue 16 measures gotunnel against: `portless proxy start -p PORT --skip-trust
 * --foreground` with its own PORTLESS_STATE_DIR (its CA, certificates and routes), PORTLESS_SYNC_HOSTS=0 (it must
 * not edit /etc/hosts), and `portless alias bench <vite port>` to route its name to the Vite server. It serves
 * HTTP/2 over TLS by default. It needs Node ≥ 24, which comes from the npm package `node`.
 *
 * Both come from the npm registry into .artifacts/bench-peers/ on first use, at the versions pinned in lib/peers.ts.
 *
 * Inside the bench's namespaces it runs in LAN mode (`--lan --ip <link address>`): outside LAN mode it listens on
 * loopback only and a phone could not reach it at all, and LAN mode is how its README says to reach other devices.
 * LAN mode serves `.local` names and announces them with avahi-publish-address, which talks to the machine's
 * avahi-daemon over D-Bus, which network namespaces do not isolate: so its PATH finds a stand-in that announces
 * nothing. Outside the namespaces it runs on loopback with `--tld local`, so the name is the same.
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pinned } from "../lib/cpu.ts";
import { installedPortless, NODE_FOR_PORTLESS_VERSION, PeersMissing, PORTLESS_VERSION } from "../lib/peers.ts";
import { freePort, runOk, spawnManaged, stopManaged, waitForPorts } from "../lib/proc.ts";
import { type BrowserTarget, httpsUrl, SkipTarget, type TargetContext } from "./target.ts";

const START_TIMEOUT_MS = 30_000;
const COMMAND_TIMEOUT_MS = 30_000;

/** avahi-publish-address that answers --help (portless probes it) and otherwise announces nothing until killed. */
function writeMdnsStandIn(dir: string): string {
  const bin = join(dir, "stand-in-bin");
  mkdirSync(bin, { recursive: true });
  const script = join(bin, "avahi-publish-address");
  writeFileSync(script, '#!/bin/sh\ncase "$1" in --help) exit 0 ;; esac\nexec sleep 2147483647\n');
  chmodSync(script, 0o755);
  return bin;
}

/** The installed peers, or SkipTarget when ensurePortless did not run (e.g. --only without portless). */
function installed(): { node: string; cli: string } {
  try {
    return installedPortless();
  } catch (error) {
    if (error instanceof PeersMissing) throw new SkipTarget(error.message);
    throw error;
  }
}

export async function startPortless(context: TargetContext): Promise<BrowserTarget> {
  const { node, cli } = installed();
  const dir = join(context.dir, "portless");
  const home = join(dir, "home");
  mkdirSync(home, { recursive: true });
  const env = {
    HOME: home,
    PORTLESS_STATE_DIR: join(dir, "state"),
    PORTLESS_SYNC_HOSTS: "0",
    PATH: `${writeMdnsStandIn(dir)}:${process.env.PATH}`,
  };
  const port = freePort();
  const mode = context.linkAddress ? ["--lan", "--ip", context.linkAddress] : ["--tld", "local"];
  const start = [node, cli, "proxy", "start", "-p", String(port), "--skip-trust", "--foreground", ...mode];
  const managed = spawnManaged("portless", pinned(context.cpus, "server", start), {
    env,
    logPath: join(dir, "proxy.log"),
  });
  try {
    await waitForPorts(managed, [port], START_TIMEOUT_MS);
    await runOk([node, cli, "alias", "bench", String(context.vitePort)], COMMAND_TIMEOUT_MS, env);
  } catch (error) {
    await stopManaged(managed);
    throw error;
  }
  const how = context.linkAddress ? "LAN mode (0.0.0.0)" : "loopback, --tld local";
  return {
    name: "portless",
    url: httpsUrl(port),
    caPath: join(dir, "state/ca.pem"),
    version: `portless ${PORTLESS_VERSION} on Node ${NODE_FOR_PORTLESS_VERSION}, ${how}, h2`,
    stop: () => stopManaged(managed),
  };
}

export { ensurePortless } from "../lib/peers.ts";
