/**
 * gotunnel itself, through its public CLI: `gotunnel up --config <file>` in the foreground with a temp home,
 * ready once it prints an https:// line and both listeners accept connections. `gotunnel-otel` is the same with an
 * OTLP endpoint configured (a sink in this process), so every request is traced and exported: the cost of tracing.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gotunnelCommand, HTTP_HOST, HTTPS_HOST } from "./certs.ts";
import { pinned } from "./cpu.ts";
import { type EnvPatch, freePort, run, spawnManaged, stopManaged, waitForLog, waitForPorts } from "./proc.ts";
import { processTree } from "./rss.ts";
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
    OTEL_EXPORTER_OTLP_ENDPOINT: undefined,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined,
  };
}

/** Issue 18 measures the idle daemon with 5 routes: the two the cells use and three more with certificates. */
const EXTRA_ROUTES = ["bench-2.local", "bench-3.local", "bench-4.local"];

export function writeConfig(context: BenchContext): string {
  const target = `http://127.0.0.1:${context.upstreamPort}`;
  const extra = Object.fromEntries(EXTRA_ROUTES.map((name) => [name, { target }]));
  const config = {
    routes: { [HTTPS_HOST]: { target }, [HTTP_HOST]: { target, https: false }, ...extra },
    proxy: { host: "127.0.0.1" },
    // The .local names would otherwise move the daemon to 0.0.0.0 and announce them by mDNS: a benchmark is local.
    lan: false,
    log: { level: "info" },
  };
  const path = join(context.dir, "gotunnel.config.json");
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
  return path;
}

/** The `gotunnel daemon` that `up` started: its child, in its own session (daemon/spawn.ts). */
export function daemonOf(client: number): number | undefined {
  return processTree(client).find((pid) => pid !== client && commandLine(pid).includes("daemon"));
}

/**
 * The daemon's certificate issuer (`gotunnel __issue-certificates`, src/tls/issuer/) while it runs: it lives for
 * ISSUER_IDLE_MS after the last certificate, so the idle figure 2 s after start still shows it, as its own role.
 */
export function issuerOf(client: number): number | undefined {
  return processTree(client).find((pid) => commandLine(pid).includes("__issue-certificates"));
}

function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return []; // exited meanwhile
  }
}

export async function gotunnelVersion(binary: string, env: EnvPatch): Promise<string> {
  const result = await run(gotunnelCommand(binary, ["--version"]), 15_000, env);
  return result.code === 0 ? result.stdout.trim().split("\n")[0] || "unknown" : "unknown";
}

export function startGotunnel(context: BenchContext): Promise<RunningTarget> {
  return startVariant(context, "gotunnel", context.gotunnelEnv, () => undefined);
}

/**
 * gotunnel with OTEL_EXPORTER_OTLP_ENDPOINT set, its spans exported in batches to a sink that reads and discards the
 * bodies; its own home, so it gets its own daemon. Both sample at `--otel-sample-rate` (default 1.0, the development
 * profile's). `gotunnel-otel` keeps the default cap on new traces a second (the daemon as a user runs it), so under a
 * benchmark's load most requests go untraced; `gotunnel-otel-all` lifts the cap and traces every sampled request.
 */
export async function startGotunnelOtel(
  context: BenchContext,
  name: "gotunnel-otel" | "gotunnel-otel-all",
): Promise<RunningTarget> {
  const sink = startOtlpSink();
  const env = {
    ...context.gotunnelEnv,
    GOTUNNEL_HOME: join(context.dir, `${name}-home`),
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint,
    OTEL_TRACES_SAMPLER_ARG: String(context.options.otelSampleRate),
    ...(name === "gotunnel-otel-all" ? { GOTUNNEL_TRACES_PER_SECOND: "unlimited" } : {}),
  };
  try {
    const target = await startVariant(context, name, env, sink.note);
    return { ...target, stop: () => target.stop().finally(() => sink.stop()) };
  } catch (error) {
    sink.stop();
    throw error;
  }
}

/** An OTLP/HTTP collector stand-in: counts POSTs and bytes, parses nothing (it shares the machine with the cells). */
function startOtlpSink() {
  const seen = { posts: 0, bytes: 0, types: "" };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      seen.bytes += (await req.arrayBuffer()).byteLength;
      seen.posts++;
      seen.types ||= req.headers.get("content-type") ?? "no content-type";
      return new Response("{}", { headers: { "content-type": "application/json" } });
    },
  });
  return {
    endpoint: `http://127.0.0.1:${server.port}`,
    note: () =>
      `exported ${(seen.bytes / 2 ** 20).toFixed(0)} MiB of OTLP (${seen.types}) in ${seen.posts} POSTs to a local sink.`,
    stop: () => server.stop(true),
  };
}

async function startVariant(
  context: BenchContext,
  name: "gotunnel" | "gotunnel-otel" | "gotunnel-otel-all",
  env: EnvPatch,
  extraNote: () => string | undefined,
): Promise<RunningTarget> {
  const binary = context.options.binary;
  if (!existsSync(binary)) throw new SkipTarget(`${binary} does not exist yet`);
  const [httpPort, httpsPort] = [freePort(), freePort()];
  const args = ["up", "--config", writeConfig(context)];
  args.push("--proxy-http-port", String(httpPort), "--proxy-https-port", String(httpsPort));
  const managed = spawnManaged(name, pinned(context.cpus, "server", gotunnelCommand(binary, args)), {
    cwd: context.dir,
    env,
    logPath: join(context.dir, `${name}.log`),
    uncache: true,
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
    name,
    endpoints: { http: { port: httpPort, host: HTTP_HOST }, https: { port: httpsPort, host: HTTPS_HOST } },
    rssRoot: managed.pid,
    processes: (): Record<string, number> => {
      const daemon = daemonOf(managed.pid);
      const issuer = issuerOf(managed.pid);
      return {
        ...(daemon === undefined ? {} : { daemon }),
        client: managed.pid,
        ...(issuer === undefined ? {} : { issuer }),
      };
    },
    version: `gotunnel ${await gotunnelVersion(binary, env)} (${binary}), Bun ${Bun.version}`,
    note: () => [requestLogNote(managed.logPath), extraNote()].filter(Boolean).join(" ") || undefined,
    stop: async () => {
      await stopManaged(managed);
      // `up` leaves its daemon running; stop it, so the next target has the cores (and its spans get flushed).
      await run(gotunnelCommand(binary, ["daemon", "stop"]), 15_000, env);
    },
  };
}
