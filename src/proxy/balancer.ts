/**
 * Several backends for one route (config `targets`): which one takes the next request (the route's policy), which
 * are down, and the counters `list` and `/metrics` show. Pure bookkeeping: balanced-upstream.ts sends the requests
 * and reports each outcome here; the daemon's active check (`health`) reports through healthChecked.
 *
 * Passive health, as nginx's `max_fails=1 fail_timeout=10s` (https://nginx.org/en/docs/http/ngx_http_upstream_module.html#server):
 * a backend that refuses a connection, resets it, times out connecting or answers 502 is skipped for
 * PASSIVE_DOWN_BASE_MS, twice as long for each failure in a row up to PASSIVE_DOWN_MAX_MS; its next answer puts it
 * back. When every backend is down a request is still tried on one: a dev server that was restarted answers at once
 * rather than after its penalty.
 */
import type { ProxyRoute } from "./router.ts";

export type BalancePolicy = "round_robin" | "least_conn" | "first";
export type BackendTarget = ProxyRoute["target"];

export const PASSIVE_DOWN_BASE_MS = 10_000;
export const PASSIVE_DOWN_MAX_MS = 80_000;
/** Backends are tracked in a bit mask per request (see pick); config/backends.ts MAX_TARGETS is lower. */
const MAX_BACKENDS = 31;

export class Backend {
  inFlight = 0;
  requests = 0;
  /** Every failure since the daemon started (a counter for /metrics). */
  failuresTotal = 0;
  /** Failures in a row; the next success resets it. */
  failures = 0;
  /** Passive: skipped until this time (ms since the epoch); 0: not. */
  downUntilMs = 0;
  /** Active: the last health check failed (only routes with `health`). */
  unhealthy = false;
  /** The last failure, for `list`. */
  reason = "";
  readonly bit: number;

  constructor(
    readonly target: BackendTarget,
    readonly index: number,
  ) {
    this.bit = 1 << index;
  }
}

/** One backend as `list` and `/metrics` show it (daemon/control/protocol.ts backendInfoSchema). */
export interface BackendState {
  origin: string;
  state: "up" | "down";
  inFlight: number;
  requests: number;
  failures: number;
  failuresTotal: number;
  retryInMs?: number;
  reason?: string;
}

export class Balancer {
  readonly backends: readonly Backend[];
  readonly policy: BalancePolicy;
  /** What makes two routes' balancers the same one (a route change that keeps it keeps its state). */
  readonly key: string;
  private next = 0;

  constructor(
    targets: readonly BackendTarget[],
    policy: BalancePolicy = "round_robin",
    private readonly now: () => number = Date.now,
  ) {
    if (targets.length === 0 || targets.length > MAX_BACKENDS) {
      throw new RangeError(`a route has 1 to ${MAX_BACKENDS} backends, got ${targets.length}`);
    }
    this.backends = targets.map((target, index) => new Backend(target, index));
    this.policy = policy;
    this.key = balancerKey(targets, policy);
  }

  /** A backend is up when it is neither within a passive penalty nor failing its active check. */
  isUp(backend: Backend, nowMs = this.now()): boolean {
    return !backend.unhealthy && backend.downUntilMs <= nowMs;
  }

  /**
   * The backend for the next attempt of a request that already tried the backends in the bit mask `tried`: an up
   * one by the policy, else (every untried one is down) a down one by the policy; undefined when all were tried.
   */
  pick(tried = 0): Backend | undefined {
    const nowMs = this.now();
    return this.choose(tried, nowMs, true) ?? this.choose(tried, nowMs, false);
  }

  /** A request failed on `backend` before it had an answer, or had a 502: it is skipped for a while. */
  failed(backend: Backend, reason: string): void {
    backend.failures++;
    backend.failuresTotal++;
    backend.reason = reason;
    const penalty = Math.min(PASSIVE_DOWN_BASE_MS * 2 ** (backend.failures - 1), PASSIVE_DOWN_MAX_MS);
    backend.downUntilMs = this.now() + penalty;
  }

  /** A request got an answer from `backend`. Cheap when nothing changes: it runs on every response. */
  succeeded(backend: Backend): void {
    if (backend.failures === 0) return;
    backend.failures = 0;
    backend.downUntilMs = 0;
  }

  /** The active check's verdict: undefined is healthy (and ends a passive penalty), a string says why not. */
  healthChecked(backend: Backend, problem: string | undefined): void {
    if (problem === undefined) {
      backend.unhealthy = false;
      this.succeeded(backend);
      return;
    }
    if (!backend.unhealthy) backend.failuresTotal++;
    backend.unhealthy = true;
    backend.reason = problem;
  }

  states(): BackendState[] {
    const nowMs = this.now();
    return this.backends.map((backend) => {
      const up = this.isUp(backend, nowMs);
      const retryInMs = backend.downUntilMs > nowMs ? backend.downUntilMs - nowMs : undefined;
      return {
        origin: backend.target.origin,
        state: up ? "up" : "down",
        inFlight: backend.inFlight,
        requests: backend.requests,
        failures: backend.failures,
        failuresTotal: backend.failuresTotal,
        ...(retryInMs === undefined || backend.unhealthy ? {} : { retryInMs }),
        ...(up || backend.reason === "" ? {} : { reason: backend.reason }),
      };
    });
  }

  /** Whether a request that tried `tried` has a backend left. */
  hasUntried(tried: number): boolean {
    return tried !== (1 << this.backends.length) - 1;
  }

  /** Runs for every request of a route with several backends: no allocation. */
  private choose(tried: number, nowMs: number, upOnly: boolean): Backend | undefined {
    const backends = this.backends;
    const count = backends.length;
    const first = this.policy === "first";
    // first: the first usable one in order; round_robin: the next usable one in turn; least_conn: the one with the
    // fewest in flight, ties in turn.
    const start = first ? 0 : this.next;
    let best: Backend | undefined;
    for (let step = 0; step < count; step++) {
      const backend = backends[(start + step) % count] as Backend;
      if ((tried & backend.bit) !== 0 || (upOnly && !this.isUp(backend, nowMs))) continue;
      if (first) return backend;
      if (this.policy === "round_robin") {
        best = backend;
        break;
      }
      if (best === undefined || backend.inFlight < best.inFlight) best = backend;
    }
    if (best !== undefined) this.next = (best.index + 1) % count;
    return best;
  }
}

export function balancerKey(targets: readonly BackendTarget[], policy: BalancePolicy): string {
  return `${policy} ${targets.map((target) => target.origin).join(" ")}`;
}
