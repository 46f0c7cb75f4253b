/**
 * The daemon's request metrics: plain counters bumped from the proxy's per-request event (proxy/server.ts
 * RequestEvent), so the request path pays a few Map lookups and additions, nothing more. Rendering happens on scrape.
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

interface Histogram {
  counts: number[];
  sum: number;
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

/** Methods are client input: only the standard ones become label values, so a client cannot mint series. */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);

const SEP = "\u0000";

export class RequestMetrics {
  private readonly requests = new Map<string, number>();
  private readonly durations = new Map<string, Histogram>();
  private readonly upstreamErrors = new Map<string, number>();

  /** Only routed requests count: the route is the label, and an unrouted 404 has none. */
  observe(event: ObservedRequest): void {
    if (!event.route) return;
    const method = KNOWN_METHODS.has(event.method) ? event.method : "OTHER";
    bump(this.requests, [event.route, method, codeClass(event.status)].join(SEP));
    this.observeDuration(event.route, event.durationMs / 1000);
    if (event.error !== undefined && event.error !== null)
      bump(this.upstreamErrors, [event.route, upstreamErrorKind(event.error)].join(SEP));
  }

  private observeDuration(route: string, seconds: number): void {
    let histogram = this.durations.get(route);
    if (!histogram) {
      histogram = { counts: new Array(DURATION_BUCKETS_SECONDS.length + 1).fill(0), sum: 0 };
      this.durations.set(route, histogram);
    }
    const index = DURATION_BUCKETS_SECONDS.findIndex((bound) => seconds <= bound);
    const slot = index === -1 ? DURATION_BUCKETS_SECONDS.length : index;
    histogram.counts[slot] = (histogram.counts[slot] ?? 0) + 1;
    histogram.sum += seconds;
  }

  families(): Family[] {
    return [
      {
        name: "gotunnel_requests_total",
        help: "Requests proxied, by route, method and status class.",
        type: "counter",
        samples: samples(this.requests, ["route", "method", "code_class"]),
      },
      {
        name: "gotunnel_request_duration_seconds",
        help: "Time from request to upstream response headers, by route.",
        type: "histogram",
        series: [...this.durations].map(
          ([route, histogram]): HistogramSeries => ({
            labels: { route },
            bounds: DURATION_BUCKETS_SECONDS,
            counts: histogram.counts,
            sum: histogram.sum,
          }),
        ),
      },
      {
        name: "gotunnel_upstream_errors_total",
        help: "Requests the upstream failed (the client got a 502), by route and kind.",
        type: "counter",
        samples: samples(this.upstreamErrors, ["route", "kind"]),
      },
    ];
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
