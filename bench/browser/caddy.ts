/**
 * Caddy as its documentation suggests for a local name: a site block for bench.local with `tls internal` (its own
 * local CA, made at start in its own temp data dir) and `reverse_proxy` to Vite, HTTP/1.1 and h2 to the browser.
 * `skip_install_trust` keeps it from installing that CA anywhere; the bench trusts it in the browser's NSS database
 * instead, as it does every target's CA. No admin endpoint, no HTTP→HTTPS redirect listener, errors-only log.
 * HTTP/3 is off: the browser runs with --disable-quic for every target.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { caddyVersion } from "../lib/caddy.ts";
import { pinned } from "../lib/cpu.ts";
import { freePort, sleep, spawnManaged, stopManaged, waitForPorts } from "../lib/proc.ts";
import { type BrowserTarget, httpsUrl, PAGE_HOST, SkipTarget, type TargetContext } from "./target.ts";

const START_TIMEOUT_MS = 20_000;

function caddyfile(context: TargetContext, httpsPort: number): string {
  return `{
  admin off
  skip_install_trust
  auto_https disable_redirects
  https_port ${httpsPort}
  servers {
    protocols h1 h2
  }
  log default {
    level ERROR
  }
}

https://${PAGE_HOST}:${httpsPort} {
  bind ${context.bindHost}
  tls internal
  reverse_proxy 127.0.0.1:${context.vitePort}
}
`;
}

async function waitForFile(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear within ${timeoutMs} ms`);
    await sleep(100);
  }
}

export async function startCaddy(context: TargetContext): Promise<BrowserTarget> {
  const version = await caddyVersion();
  if (!version) throw new SkipTarget("caddy is not installed (apt-get install -y caddy)");
  const httpsPort = freePort();
  const home = join(context.dir, "caddy-home");
  mkdirSync(home, { recursive: true });
  const path = join(context.dir, "Caddyfile");
  writeFileSync(path, caddyfile(context, httpsPort));
  // Caddy keeps its CA and certificates under XDG_DATA_HOME (or $HOME); both point into the temp dir.
  const env = { HOME: home, XDG_DATA_HOME: join(home, "data"), XDG_CONFIG_HOME: join(home, "config") };
  const cmd = pinned(context.cpus, "server", ["caddy", "run", "--adapter", "caddyfile", "--config", path]);
  const managed = spawnManaged("caddy", cmd, { env, logPath: join(context.dir, "caddy.log") });
  const caPath = join(home, "data/caddy/pki/authorities/local/root.crt");
  try {
    await waitForPorts(managed, [httpsPort], START_TIMEOUT_MS);
    await waitForFile(caPath, START_TIMEOUT_MS);
  } catch (error) {
    await stopManaged(managed);
    throw error;
  }
  return {
    name: "caddy",
    url: httpsUrl(httpsPort),
    caPath,
    version: `caddy ${version}, tls internal, h1+h2, GOMAXPROCS unset (pinned to the server CPU)`,
    stop: () => stopManaged(managed),
  };
}
