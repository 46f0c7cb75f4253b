/**
 * Keeps the daemon from running out of file descriptors. Every client connection costs one, and a thousand idle
 * keep-alive connections used to fill a 1024 limit: Bun then cannot accept, and every new client hangs (issue 15).
 * Bun.serve reports no connection count, so the guard counts open descriptors against the limit read at start; from
 * SHED_AT_FRACTION of the limit on, it closes the client connections that are idle between requests (the cheapest
 * to lose: a client reopens one on its next request, RFC 9112 §9.3.1) and the pool's idle upstream sockets, and logs
 * once per episode. In-flight requests, streams and WebSockets are never touched.
 *
 * How often it counts depends on the room left (nextCheckMs): every 250 ms near a 1024 limit, every few seconds
 * under the hard limit Bun raises the soft one to (524288 on most Linux desktops). Counting four times a second
 * regardless was most of an idle daemon's CPU time beyond Bun's own (issue 18, CONTRIBUTING.md).
 */
import type { FileLimitProbe } from "../platform/fd-limit.ts";

/**
 * The fastest descriptors are assumed to be used up: a flood of new connections, which Bun accepts at tens of
 * thousands a second on a fast machine. The next count comes before the room left could be gone at this rate; a
 * faster burst makes clients wait in the listen backlog until that count frees room.
 */
export const FASTEST_GROWTH_PER_S = 20_000;
/** Bounds on the time between counts: the old fixed period, and a few seconds on an idle daemon. */
export const MIN_CHECK_MS = 250;
export const MAX_CHECK_MS = 5_000;
/** Shedding starts at 90% of the limit, leaving room for listeners, upstream sockets, files and the log. */
const SHED_AT_FRACTION = 0.9;
/** An episode ends (and the next one is logged again) once usage is back under 75%. */
const CALM_AT_FRACTION = 0.75;

/** Milliseconds until the next count, with `open` descriptors in use and shedding from `shedAt`. */
export function nextCheckMs(open: number, shedAt: number): number {
  const roomMs = ((shedAt - open) / FASTEST_GROWTH_PER_S) * 1000;
  return Math.min(MAX_CHECK_MS, Math.max(MIN_CHECK_MS, Math.floor(roomMs)));
}

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
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** Counts, sheds if needed; returns the open descriptors, or undefined when they can no longer be counted. */
  const check = (): number | undefined => {
    let open: number;
    try {
      open = probe.openFiles();
    } catch (error) {
      log("warn", `open files can no longer be counted (${(error as Error).message}): idle connections are not shed`);
      return undefined;
    }
    if (open < shedAt) {
      if (open < calmAt) episode = false;
      return open;
    }
    const closed = shed();
    if (!episode) {
      episode = true;
      log(
        "warn",
        `${open} of ${limit} open files in use: closed ${closed} idle connections. If this is normal load, raise the limit (\`ulimit -n\`, LimitNOFILE= in a systemd unit).`,
      );
    }
    return open;
  };
  const schedule = (open: number) => {
    timer = setTimeout(
      () => {
        const now = check();
        if (now !== undefined) schedule(now);
      },
      nextCheckMs(open, shedAt),
    );
    // The guard alone must not keep the daemon alive.
    timer.unref();
  };
  // The first count comes after the shortest wait; its result sets the next one.
  schedule(shedAt);
  return { stop: () => clearTimeout(timer) };
}
