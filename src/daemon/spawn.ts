/**
 * Starting the daemon on demand: any command that needs it spawns `gotunnel daemon` detached (its own session, stdio
 * to daemon.log), then waits, bounded, until the control socket answers. If the daemon exits first, the command
 * shows the daemon's own error (port in use, broken CA, full disk) with its exit code, sent through a pipe
 * (start-report.ts).
 */
import { closeSync } from "node:fs";
import { join } from "node:path";
import { DOCKER_ENV, HTTP2_ENV } from "../config/env.ts";
import type { ResolvedConfig } from "../config/load.ts";
import { PROFILE_ENV } from "../config/profiles.ts";
import { configDefaults } from "../config/schema.ts";
import { GotunnelError } from "../core/errors.ts";
import type { Paths } from "../platform/paths.ts";
import { withOwnedDir } from "../platform/safe-fs.ts";
import { ControlClient, isNotRunning } from "./control/client.ts";
import { socketPath } from "./control/endpoint.ts";
import { okResponseSchema, routesResponseSchema, type StatusResponse } from "./control/protocol.ts";
import { lockHeld, lockHolder } from "./lock.ts";
import { LOG_FILE, SHUTDOWN_GRACE_MS } from "./process.ts";
import { answers, reviveDaemon, signalDaemon, unreachableHolder } from "./reach.ts";
import { parseStartReport, startReportChannel } from "./start-report.ts";
import { STATE_DIR_MODE } from "./state.ts";

/** CA creation, certificates and the bind take well under a second; this bound only catches a daemon that hangs. */
const DAEMON_START_TIMEOUT_MS = 15_000;
const POLL_MS = 50;
/** daemon.log may hold request URLs and route names: the user's alone. */
export const LOG_FILE_MODE = 0o600;

export function logPath(paths: Paths): string {
  return join(paths.stateDir, LOG_FILE);
}

/**
 * How to run this same gotunnel again: the compiled binary is `process.execPath` itself; from source, execPath is
 * bun and the entry script (src/main.ts) comes after it. That script is found from this file, not from `Bun.main`:
 * under `bun test`, Bun.main is the test file, and a daemon run in-process by a test must still be able to start its
 * certificate issuer (tls/issuer/).
 */
export function selfCommand(): string[] {
  const script = Bun.main;
  const compiled = script.includes("$bunfs") || script.includes("~BUN");
  return compiled ? [process.execPath] : [process.execPath, join(import.meta.dir, "..", "main.ts")];
}

/**
 * Only ports the command asked for must match the running daemon's: 0 means "any free port", and the defaults
 * (443/80) mean the user did not choose, so `gotunnel list` or `start` after `up --proxy-https-port 8443` just work.
 */
export function assertPorts(status: StatusResponse, proxy: ResolvedConfig["proxy"]): void {
  const defaults = configDefaults().proxy;
  const chosen = (port: number, fallback: number) => port !== 0 && port !== fallback;
  const mismatch: string[] = [];
  if (chosen(proxy.httpsPort, defaults.httpsPort) && proxy.httpsPort !== status.ports.https) {
    mismatch.push(`HTTPS ${proxy.httpsPort}`);
  }
  if (chosen(proxy.httpPort, defaults.httpPort) && proxy.httpPort !== status.ports.http) {
    mismatch.push(`HTTP ${proxy.httpPort}`);
  }
  if (mismatch.length === 0) return;
  throw new GotunnelError(
    "E_DAEMON",
    `the running daemon (pid ${status.pid}) listens on HTTPS ${status.ports.https} and HTTP ${status.ports.http}, not ${mismatch.join(" and ")}`,
    {
      hint: `use its ports, or restart it on yours: \`gotunnel daemon stop\`, then run this command again`,
      details: { pid: status.pid, ports: status.ports },
    },
  );
}

/**
 * A client for the running daemon; its calls fail with "not running" (exit 7) when there is none. When the socket is
 * gone but a daemon holds the lock, the first call asks it to listen again (daemon/reach.ts) and goes through.
 */
export function runningDaemon(paths: Paths): ControlClient {
  const client = new ControlClient(socketPath(paths.runtimeDir));
  return new ControlClient(client.socket, {
    revive: () => reviveDaemon({ stateDir: paths.stateDir, client, logFile: logPath(paths) }),
  });
}

/**
 * The route names of the daemon running now, for shell completion: never starts or revives one, and gives up after
 * `timeoutMs` (a shell waits on it while the user waits on the shell). None when no daemon answers.
 */
export async function currentRouteNames(paths: Paths, timeoutMs: number): Promise<string[]> {
  const client = new ControlClient(socketPath(paths.runtimeDir));
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const { routes } = await client.request("GET", "/v1/routes", routesResponseSchema, undefined, signal);
    return routes.map((route) => route.name);
  } catch (error) {
    if (isNotRunning(error) || signal.aborted) return [];
    throw error;
  }
}

/**
 * The running daemon's status, starting one with `config`'s ports if none answers. A daemon started here also takes
 * this command's log format and environment profile (`up --log-format json` gives a JSON daemon.log).
 */
export async function ensureDaemon(
  paths: Paths,
  config: Pick<ResolvedConfig, "proxy" | "log" | "observability"> & Partial<Pick<ResolvedConfig, "discovery">>,
  /** Told when a daemon has to be started (CA on first use, certificates, listeners), for progress. */
  onStarting?: () => void,
): Promise<ControlClient> {
  const { proxy } = config;
  const client = runningDaemon(paths);
  const running = await client.status().catch((error: unknown) => {
    if (isNotRunning(error)) return undefined;
    throw error;
  });
  if (running) {
    assertPorts(running, proxy);
    return client;
  }
  onStarting?.();
  await spawnDaemon(paths, config, new ControlClient(client.socket));
  return client;
}

async function spawnDaemon(
  paths: Paths,
  {
    proxy,
    log: logConfig,
    observability,
    discovery,
  }: Pick<ResolvedConfig, "proxy" | "log" | "observability"> & Partial<Pick<ResolvedConfig, "discovery">>,
  client: ControlClient,
): Promise<void> {
  // Under sudo this runs as root in the user's state dir: safe-fs never follows a link planted as daemon.log.
  const log = withOwnedDir(paths.stateDir, STATE_DIR_MODE, (dir) => dir.openAppend(LOG_FILE, LOG_FILE_MODE));
  // `--flag=value`: a bare "0" after a flag would read as a positional (the daemon's `stop` action).
  const flags = [
    `--proxy-https-port=${proxy.httpsPort}`,
    `--proxy-http-port=${proxy.httpPort}`,
    `--log-format=${logConfig.format}`,
    `--environment=${observability.environment}`,
  ];
  const startReport = startReportChannel(paths.stateDir);
  // The command's profile belongs to its project's file: the daemon reads only the user file, which may not have it.
  const { [PROFILE_ENV]: _profile, ...env } = process.env;
  const child = Bun.spawn([...selfCommand(), "daemon", ...flags], {
    cwd: paths.stateDir,
    env: { ...env, ...startReport.env, ...http2Env(proxy.http2), ...dockerEnv(discovery?.docker) },
    stdio: ["ignore", log, log, ...startReport.stdio],
    detached: true,
  });
  closeSync(log);
  child.unref();
  const report = startReport.reader(child.stdio);
  // The daemon ends its report once it answers on its socket (or fails): look then, not at the next poll, which
  // cost `up` and `start` 25 ms on average when they start the daemon. After that, polling as before.
  let settled = report.settled?.then(() => {
    settled = undefined;
  });
  const deadline = Date.now() + DAEMON_START_TIMEOUT_MS;
  let lost = false;
  while (Date.now() < deadline) {
    if (await answers(client)) return;
    if (!lost && (child.exitCode !== null || child.signalCode !== null)) {
      const failure = startFailure(paths, await report());
      // Two commands started a daemon at the same moment and ours lost the lock: wait for the winner instead.
      // (A lock held, or a daemon on the socket: either way one runs.)
      const winner = failure.details?.socket !== undefined || lockHeld(paths.stateDir);
      if (!winner) throw failure;
      lost = true;
    }
    await (settled ? Promise.race([Bun.sleep(POLL_MS), settled]) : Bun.sleep(POLL_MS));
  }
  throw new GotunnelError("E_DAEMON", `the gotunnel daemon did not answer within ${DAEMON_START_TIMEOUT_MS / 1000} s`, {
    hint: `see its log: ${logPath(paths)}`,
  });
}

/**
 * The daemon loads its own config (user file and environment, from the state dir), so a project file's
 * `proxy.http2` would not reach it: the command that starts it passes its resolved choice on, as it does the ports.
 */
function http2Env(http2: boolean | undefined): Record<string, string> {
  return http2 === undefined ? {} : { [HTTP2_ENV]: http2 ? "1" : "0" };
}

/** `discovery.docker` reaches the daemon the way `proxy.http2` does (above), with DOCKER_HOST in its environment. */
function dockerEnv(docker: boolean | undefined): Record<string, string> {
  return docker === undefined ? {} : { [DOCKER_ENV]: docker ? "1" : "0" };
}

/** The daemon's reported error (start-report.ts), else a pointer to its log. */
function startFailure(paths: Paths, report: string): GotunnelError {
  return (
    parseStartReport(report) ??
    new GotunnelError("E_DAEMON", "the gotunnel daemon exited while starting", {
      hint: `see its log: ${logPath(paths)}`,
    })
  );
}

/**
 * `gotunnel daemon stop`: asks the daemon to shut down and waits (bounded) until its lock is released. Without a socket
 * (removed under it), the lock's holder gets SIGTERM, which shuts down the same way. Undefined: none ran.
 */
export async function stopDaemon(paths: Paths): Promise<number | undefined> {
  const client = new ControlClient(socketPath(paths.runtimeDir));
  const holder = lockHolder(paths.stateDir);
  try {
    const status = await client.status().catch((error: unknown) => {
      if (isNotRunning(error)) return undefined;
      throw error;
    });
    const pid = status?.pid ?? holder?.pid;
    if (status) {
      // The daemon may close the socket before its answer is read: what counts is that its lock is released.
      await client.request("POST", "/v1/shutdown", okResponseSchema).catch((error: unknown) => {
        if (!isNotRunning(error)) throw error;
      });
    } else if (holder?.pid !== undefined) {
      if (!signalDaemon(holder.pid, "SIGTERM")) return holder.pid;
    } else if (holder) {
      throw unreachableHolder(paths.stateDir);
    } else return undefined;
    // A daemon from before the lock moved to the state dir holds none: it is gone once its socket stops answering.
    const running = holder ? () => holder.stillHeld() : () => answers(client);
    // Shutdown lets in-flight requests finish for up to SHUTDOWN_GRACE_MS; wait a little longer than that.
    const deadline = Date.now() + SHUTDOWN_GRACE_MS + DAEMON_START_TIMEOUT_MS;
    while (await running()) {
      if (Date.now() > deadline) {
        throw new GotunnelError("E_DAEMON", `the gotunnel daemon (pid ${pid}) did not stop in time`, {
          hint: `see its log (${logPath(paths)}), or stop it with \`kill ${pid}\``,
        });
      }
      await Bun.sleep(POLL_MS);
    }
    return pid;
  } finally {
    holder?.close();
  }
}
