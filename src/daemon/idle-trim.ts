/**
 * Gives memory back once the daemon goes quiet (issue 18). Under load JavaScriptCore's heap grows and the allocator
 * keeps the pages it freed, so a daemon that served one burst of requests held about 70 MiB for the rest of the day
 * instead of the 56 it started at. `Bun.shrink()` (JSC's shrinkFootprintWhenIdle: a full collection, the compiled
 * code thrown away, free allocator pages returned) brought it to about 64 after a burst, and about 1 MiB below the
 * start-up figure at idle. It blocks the event loop for under 0.1 ms, and the first requests after it run colder
 * code, so it runs only after QUIET_MS with no request and no route change, once per quiet spell.
 *
 * Never while a request is being answered or a WebSocket is bridged (`busy`): a full collection during a bridged
 * WebSocket's backpressure lost its last 32 KiB in 4 of 8 runs of tests/e2e/websocket-backpressure.test.ts, with
 * `Bun.gc(true)` as with `Bun.shrink()` (Bun 1.4.5; CONTRIBUTING.md). While busy it looks again every QUIET_MS.
 *
 * Cost on the request path: one store and one comparison (`touch`). No timer runs while the daemon is idle with
 * nothing open.
 */

/** How long the daemon must be quiet before it trims: past one page load's requests, short of a day's idle. */
export const IDLE_TRIM_QUIET_MS = 5_000;
/** Environment override of IDLE_TRIM_QUIET_MS in milliseconds, for tests; 0 turns trimming off. */
export const IDLE_TRIM_ENV = "GOTUNNEL_IDLE_TRIM_MS";

/** A one-shot timer: schedules `run` after `ms` and returns its cancel (setTimeout by default, unref'd). */
export type Schedule = (run: () => void, ms: number) => () => void;

const unrefTimeout: Schedule = (run, ms) => {
  const timer = setTimeout(run, ms);
  timer.unref();
  return () => clearTimeout(timer);
};

export interface IdleTrimOptions {
  quietMs?: number;
  /** What gives memory back; default Bun.shrink. */
  trim?: () => void;
  /** True while trimming must wait (a request in flight, a WebSocket open); default never. */
  busy?: () => boolean;
  schedule?: Schedule;
}

/** What GET /debug/memory reports of the trims so far. */
export interface TrimStats {
  quietMs: number;
  count: number;
  /** How long the last trim blocked the event loop, ms (undefined before the first). */
  lastTookMs: number | undefined;
}

export class IdleTrim {
  readonly #quietMs: number;
  readonly #trim: () => void;
  readonly #busyNow: () => boolean;
  readonly #schedule: Schedule;
  #cancel: (() => void) | undefined;
  /** Something happened since the timer was armed: the quiet spell starts over when it fires. */
  #touched = false;
  #stopped = false;
  #count = 0;
  #lastTookMs: number | undefined;

  constructor(options: IdleTrimOptions = {}) {
    this.#quietMs = options.quietMs ?? IDLE_TRIM_QUIET_MS;
    this.#trim = options.trim ?? (() => Bun.shrink());
    this.#busyNow = options.busy ?? (() => false);
    this.#schedule = options.schedule ?? unrefTimeout;
    this.#stopped = this.#quietMs <= 0;
  }

  /** A request or a change: trim once the daemon has been quiet for quietMs to 2 × quietMs after the last one. */
  touch(): void {
    if (this.#cancel === undefined) this.#arm();
    else this.#touched = true;
  }

  stop(): void {
    this.#stopped = true;
    this.#cancel?.();
    this.#cancel = undefined;
  }

  stats(): TrimStats {
    return { quietMs: this.#quietMs, count: this.#count, lastTookMs: this.#lastTookMs };
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#touched = false;
    this.#cancel = this.#schedule(this.#fire, this.#quietMs);
  }

  readonly #fire = (): void => {
    this.#cancel = undefined;
    if (this.#touched || this.#busyNow()) {
      this.#arm();
      return;
    }
    const started = performance.now();
    this.#trim();
    this.#lastTookMs = performance.now() - started;
    this.#count++;
  };
}

/** IDLE_TRIM_ENV as a count of milliseconds, or undefined when unset or not a count. */
export function idleTrimQuietMs(env: Record<string, string | undefined>): number | undefined {
  const value = env[IDLE_TRIM_ENV];
  return value && /^\d+$/.test(value) ? Number(value) : undefined;
}
