/**
 * Keeps the daemon from running out of file descriptors. Every client connection costs one, and a thousand idle
 * keep-alive connections used to fill a 1024 limit: Bun then cannot accept, and every new client hangs (issue 15).
 * Bun.serve reports no connection count, so the guard counts open descriptors against the limit read at start,
 * every POLL_MS; from SHED_AT_FRACTION of the limit on, it closes the client connections that are idle between
 * requests (the cheapest to lose: a client reopens one on its next request, RFC 9112 §9.3.1) and the pool's idle
 * upstream sockets, and logs once per episode. In-flight requests, streams and WebSockets are never touched.
 */
import type { FileLimitProbe } from "../platform/fd-limit.ts";

/** How often the open descriptors are counted. A burst fills the limit faster than this; clients then wait in the
 * listen backlog until the next check frees room. */
const POLL_MS = 250;
/** Shedding starts at 90% of the limit, leaving room for listeners, upstream sockets, files and the log. */
const SHED_AT_FRACTION = 0.9;
/** An episode ends (and the next one is logged again) once usage is back under 75%. */
const CALM_AT_FRACTION = 0.75;

export interface FdGuardOptions {
  probe: FileLimitProbe;
  /** Closes idle connections; returns how many. */
  shed(): number;
  log(level: "info" | "warn", message: string): void;
}

export interface FdGuard {
  stop(): void;
}

export function startFdGuard({ probe, shed, log }: FdGuardOptions): FdGuard {
  const limit = probe.limit.soft;
  const shedAt = Math.floor(limit * SHED_AT_FRACTION);
  const calmAt = Math.floor(limit * CALM_AT_FRACTION);
  log(
    "info",
    `open-file limit ${limit} (hard ${probe.limit.hard}): idle connections are closed from ${shedAt} open files`,
  );
  let episode = false;
  const timer = setInterval(() => {
    let open: number;
    try {
      open = probe.openFiles();
    } catch (error) {
      clearInterval(timer);
      log("warn", `open files can no longer be counted (${(error as Error).message}): idle connections are not shed`);
      return;
    }
    if (open < shedAt) {
      if (open < calmAt) episode = false;
      return;
    }
    const closed = shed();
    if (episode) return;
    episode = true;
    log(
      "warn",
      `${open} of ${limit} open files in use: closed ${closed} idle connections. If this is normal load, raise the limit (\`ulimit -n\`, LimitNOFILE= in a systemd unit).`,
    );
  }, POLL_MS);
  // The guard alone must not keep the daemon alive.
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
