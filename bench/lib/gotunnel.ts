/**
 * gotunnel itself, through its public CLI: `gotunnel up --config <file>` in the foreground with a temp home,
 * ready once it prints an https:// line and both listeners accept connections.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gotunnelCommand, HTTP_HOST, HTTPS_HOST } from "./certs.ts";
import { pinned } from "./cpu.ts";
import { type EnvPatch, freePort, run, spawnManaged, stopManaged, waitForLog, waitForPorts } from "./proc.ts";
import { type BenchContext, type RunningTarget, SkipTarget } from "./target.ts";

const READY_TIMEOUT_MS = 30_000;
// Below this, the output is start-up and shutdown lines, not a per-request log.
const REQUEST_LOG_NOTE_BYTES = 1024 * 1024;

/** `up` may log every request (the peers run with access logs off); say so when it did, with how much. */
function requestLogNote(logPath: string): string | undefined {
  const bytes = Bun.file(logPath).size;
  if (bytes < REQUEST_LOG_NOTE_BYTES) return undefined;
  const mib = (bytes / 2 ** 20).toFixed(0);
  return (
    `wrote ${mib} MiB of output (its per-request log) during the run, which the bench sends to a file;` +
    " nginx and Caddy run with access logs off, so gotunnel's figures include that cost."
  );
}

/**
 * Everything gotunnel could write goes under dir: its home (CA, state), a stand-in hosts file and $HOME.
 * Debug logging and telemetry exports are switched off so they are not part of the measurement.
 */
export function gotunnelEnvironment(dir: string): EnvPatch {
  const home = join(dir, "home");
  mkdirSync(home, { recursive: true });
  const hostsFile = join(dir, "hosts");
  writeFileSync(hostsFile, "127.0.0.1 localhost\n::1 localhost\n");
  return {
    GOTUNNEL_HOME: join(dir, "gotunnel-home"),
    GOTUNNEL_HOSTS_FILE: hostsFile,
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_DATA_HOME: join(home, ".local/share"),
    // Our flags and config file decide; inherited overrides must not.
    GOTUNNEL_CONFIG: undefined,
    GOTUNNEL_PROXY_HOST: undefined,
    GOTUNNEL_PROXY_HTTP_PORT: undefined,
    GOTUNNEL_PROXY_HTTPS_PORT: undefined,
    GOTUNNEL_LOG_FORMAT: undefined,
    DEBUG: undefined,
    SENTRY_DSN: undefined,
  };
}

function writeConfig(context: BenchContext): string {
  const target = `http://127.0.0.1:${context.upstreamPort}`;
  const config = {
    routes: { [HTTPS_HOST]: { target }, [HTTP_HOST]: { target, https: false } },
    proxy: { host: "127.0.0.1" },
    log: { level: "info" },
  };
  const path = join(context.dir, "gotunnel.config.json");
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
  return path;
}

export async function gotunnelVersion(binary: string, env: EnvPatch): Promise<string> {
  const result = await run(gotunnelCommand(binary, ["--version"]), 15_000, env);
  return result.code === 0 ? result.stdout.trim().split("\n")[0] || "unknown" : "unknown";
}

export async function startGotunnel(context: BenchContext): Promise<RunningTarget> {
  const binary = context.options.binary;
  if (!existsSync(binary)) throw new SkipTarget(`${binary} does not exist yet`);
  const [httpPort, httpsPort] = [freePort(), freePort()];
  const args = ["up", "--config", writeConfig(context)];
  args.push("--proxy-http-port", String(httpPort), "--proxy-https-port", String(httpsPort));
  const managed = spawnManaged("gotunnel", pinned(context.cpus, "server", gotunnelCommand(binary, args)), {
    cwd: context.dir,
    env: context.gotunnelEnv,
    logPath: join(context.dir, "gotunnel.log"),
  });
  try {
    // The contract: one line with https:// per route once it is serving.
    await waitForLog(managed, "https://", READY_TIMEOUT_MS);
    await waitForPorts(managed, [httpPort, httpsPort], READY_TIMEOUT_MS);
  } catch (error) {
    await stopManaged(managed);
    const log = await Bun.file(managed.logPath).text();
    const tail = log.trim().split("\n").slice(-5).join(" | ");
    throw new SkipTarget(`\`gotunnel up\` did not start (${(error as Error).message}): ${tail}`);
  }
  return {
    name: "gotunnel",
    endpoints: { http: { port: httpPort, host: HTTP_HOST }, https: { port: httpsPort, host: HTTPS_HOST } },
    rssRoot: managed.pid,
    version: `gotunnel ${await gotunnelVersion(binary, context.gotunnelEnv)} (${binary}), Bun ${Bun.version}`,
    note: () => requestLogNote(managed.logPath),
    stop: () => stopManaged(managed),
  };
}
