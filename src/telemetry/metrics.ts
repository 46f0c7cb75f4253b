/**
 * The daemon's request metrics: plain counters bumped from the proxy's per-request event (proxy/server.ts
 * RequestEvent), so the request path pays one Map lookup and a few array increments. Rendering happens on scrape.
 */
import type { Family, HistogramSeries, Sample } from "./prometheus.ts";

/** Upper bounds in seconds: dev servers answer in milliseconds to a few seconds (compile on first request). */
export const DURATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** What metrics need from proxy/server.ts RequestEvent. */
export interface ObservedRequest {
  method: string;
  status: number;
  durationMs: number;
  route: string | undefined;
  error: unknown;
}

/** 2xx, 3xx…; anything outside 100–599 is "other" so a strange status cannot create unbounded series. */
export function codeClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : "other";
}

/** A small fixed vocabulary from the upstream client's error `kind`/`code` (see proxy/forward.ts describeFailure). */
export function upstreamErrorKind(error: unknown): string {
  const kind = (error as { kind?: string } | null)?.kind ?? (error as { code?: string } | null)?.code;
  if (kind === "refused" || kind === "ConnectionRefused" || kind === "ECONNREFUSED") return "refused";
  if (kind === "timeout") return "timeout";
  if (kind === "reset" || kind === "ECONNRESET") return "reset";
  return "other";
}

/**
 * The HTTP semantic conventions' known methods. Methods are client input: only these become label values (anything
 * else counts as OTHER, and spans record it as `_OTHER`), so a client cannot mint series.
 */
export const KNOWN_HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
const METHODS = [...KNOWN_HTTP_METHODS, "OTHER"] as const;
const METHOD_INDEX = new Map<string, number>(METHODS.map((method, index) => [method, index]));
const OTHER_METHOD = METHODS.length - 1;
/** Status classes 1xx…5xx, then "other". */
const CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"] as const;
const ERROR_KINDS = ["refused", "timeout", "reset", "other"] as const;
const SEP = "\u0000";

/**
 * One route's counters in flat arrays, so counting a request is one Map lookup (the route) and a few array
 * increments: requests[method * CLASSES.length + class], the duration histogram, and errors by kind.
 */
class RouteCounters {
  readonly requests = new Float64Array(METHODS.length * CLASSES.length);
  readonly buckets = new Float64Array(DURATION_BUCKETS_SECONDS.length + 1);
  durationSum = 0;
  readonly errors = new Float64Array(ERROR_KINDS.length);
}

function classIndex(status: number): number {
  return status >= 100 && status < 600 ? Math.floor(status / 100) - 1 : CLASSES.length - 1;
}

function bucketIndex(seconds: number): number {
  for (let i = 0; i < DURATION_BUCKETS_SECONDS.length; i++) if (seconds <= DURATION_BUCKETS_SECONDS[i]!) return i;
  return DURATION_BUCKETS_SECONDS.length;
}

export class RequestMetrics {
  private readonly routes = new Map<string, RouteCounters>();

  /** Only routed requests count: the route is the label, and an unrouted 404 has none. */
  observe(event: ObservedRequest): void {
    const route = event.route;
    if (!route) return;
    let counters = this.routes.get(route);
    if (counters === undefined) {
      counters = new RouteCounters();
      this.routes.set(route, counters);
    }
    const method = METHOD_INDEX.get(event.method) ?? OTHER_METHOD;
    counters.requests[method * CLASSES.length + classIndex(event.status)]! += 1;
    const seconds = event.durationMs / 1000;
    counters.buckets[bucketIndex(seconds)]! += 1;
    counters.durationSum += seconds;
    if (event.error !== undefined && event.error !== null)
      counters.errors[ERROR_KINDS.indexOf(upstreamErrorKind(event.error) as (typeof ERROR_KINDS)[number])]! += 1;
  }

  /** Requests counted for `route` so far (`gotunnel list`): the sum of its series, no second counter to keep. */
  requestCount(route: string): number {
    let total = 0;
    for (const value of this.routes.get(route)?.requests ?? []) total += value;
    return total;
  }

  families(): Family[] {
    const requests: Sample[] = [];
    const durations: HistogramSeries[] = [];
    const errors: Sample[] = [];
    for (const [route, counters] of this.routes) {
      counters.requests.forEach((value, index) => {
        if (value === 0) return;
        const method = METHODS[Math.floor(index / CLASSES.length)]!;
        requests.push({ labels: { route, method, code_class: CLASSES[index % CLASSES.length]! }, value });
      });
      durations.push({
        labels: { route },
        bounds: DURATION_BUCKETS_SECONDS,
        counts: [...counters.buckets],
        sum: counters.durationSum,
      });
      counters.errors.forEach((value, index) => {
        if (value > 0) errors.push({ labels: { route, kind: ERROR_KINDS[index]! }, value });
      });
    }
    return [
      {
        name: "gotunnel_requests_total",
        help: "Requests proxied, by route, method and status class.",
        type: "counter",
        samples: requests,
      },
      {
        name: "gotunnel_request_duration_seconds",
        help: "Time from request to upstream response headers, by route.",
        type: "histogram",
        series: durations,
      },
      {
        name: "gotunnel_upstream_errors_total",
        help: "Requests the upstream failed (the client got a 502), by route and kind.",
        type: "counter",
        samples: errors,
      },
    ];
  }
}

/**
 * Errors the daemon met, by component (proxy, tls, hosts, mdns, daemon…) and category (the error code's family):
 * the same pair Sentry tags them with, so a dashboard and an error tracker agree.
 */
export class ErrorCounts {
  private readonly counts = new Map<string, number>();

  count(component: string, category: string): void {
    bump(this.counts, [component, category].join(SEP));
  }

  family(): Family {
    return {
      name: "gotunnel_errors_total",
      help: "Errors the daemon met, by component and category.",
      type: "counter",
      samples: samples(this.counts, ["component", "category"]),
    };
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function samples(map: Map<string, number>, names: readonly string[]): Sample[] {
  return [...map].map(([key, value]) => {
    const parts = key.split(SEP);
    return { labels: Object.fromEntries(names.map((name, index) => [name, parts[index] ?? ""])), value };
  });
}
