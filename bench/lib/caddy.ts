/**
 * Caddy as a peer reverse proxy: the same leaf certificate, no admin endpoint, no access log, no automatic HTTPS,
 * and GOMAXPROCS = --workers so it gets the same core budget as nginx's workers.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HTTP_HOST, HTTPS_HOST } from "./certs.ts";
import { pinned } from "./cpu.ts";
import { freePort, run, spawnManaged, stopManaged, waitForPorts } from "./proc.ts";
import { type BenchContext, type RunningTarget, SkipTarget } from "./target.ts";

const START_TIMEOUT_MS = 20_000;

function caddyfile(context: BenchContext, httpPort: number, httpsPort: number): string {
  const upstream = `127.0.0.1:${context.upstreamPort}`;
  // Same idle pool size as nginx's `keepalive 64`.
  const proxy = `reverse_proxy ${upstream} {
    transport http {
      keepalive 5m
      keepalive_idle_conns 64
      keepalive_idle_conns_per_host 64
    }
  }`;
  return `{
  admin off
  auto_https off
  http_port ${httpPort}
  https_port ${httpsPort}
  servers {
    protocols h1 h2
  }
  log default {
    level ERROR
  }
}

https://:${httpsPort} {
  bind 127.0.0.1
  tls ${context.certs.leafCert} ${context.certs.leafKey}
  ${proxy}
}

http://:${httpPort} {
  bind 127.0.0.1
  ${proxy}
}
`;
}

export async function caddyVersion(): Promise<string | null> {
  if (!Bun.which("caddy")) return null;
  const result = await run(["caddy", "version"], 5000);
  return result.stdout.trim().split(/\s+/)[0] ?? "unknown";
}

export async function startCaddy(context: BenchContext): Promise<RunningTarget> {
  const version = await caddyVersion();
  if (!version) throw new SkipTarget("caddy is not installed (apt-get install -y caddy)");
  const [httpPort, httpsPort] = [freePort(), freePort()];
  const path = join(context.dir, "Caddyfile");
  writeFileSync(path, caddyfile(context, httpPort, httpsPort));
  // Caddy keeps state under $HOME / XDG dirs; point them at the temp dir so nothing outside it is written.
  const home = join(context.dir, "caddy-home");
  mkdirSync(home, { recursive: true });
  const env = {
    HOME: home,
    XDG_DATA_HOME: join(home, "data"),
    XDG_CONFIG_HOME: join(home, "config"),
    GOMAXPROCS: String(context.options.workers),
  };
  const cmd = pinned(context.cpus, "server", ["caddy", "run", "--adapter", "caddyfile", "--config", path]);
  const managed = spawnManaged("caddy", cmd, { env, logPath: join(context.dir, "caddy.log"), uncache: true });
  await waitForPorts(managed, [httpPort, httpsPort], START_TIMEOUT_MS);
  return {
    name: "caddy",
    endpoints: { http: { port: httpPort, host: HTTP_HOST }, https: { port: httpsPort, host: HTTPS_HOST } },
    rssRoot: managed.pid,
    version: `caddy ${version}, GOMAXPROCS=${context.options.workers}`,
    stop: () => stopManaged(managed),
  };
}
