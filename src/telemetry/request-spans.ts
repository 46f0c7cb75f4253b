/**
 * The server spans of proxied requests, recorded into a ring of preallocated columns. A traced request costs a few
 * stores into its ForwardContext (which exists anyway) and a dozen into arrays that live as long as the daemon: no
 * span object, attribute map or name string is built per request, and nothing a request leaves behind waits for its
 * batch as an object of its own. The encoders (otlp-proto.ts, otlp-json.ts) read the rows back in order.
 */
import type { ForwardContext } from "../proxy/forward.ts";
import { KNOWN_HTTP_METHODS, upstreamErrorKind } from "./metrics.ts";

const TIME_ORIGIN = performance.timeOrigin;

/** Wall-clock milliseconds with sub-millisecond precision (performance.now() is monotonic, Date.now() whole ms). */
export function nowMs(): number {
  return TIME_ORIGIN + performance.now();
}

/** Methods are client input: others are recorded as `_OTHER` (HTTP semconv), with the original alongside. */
const KNOWN_METHODS = new Set(KNOWN_HTTP_METHODS);

function isKnownMethod(method: string): boolean {
  return KNOWN_METHODS.has(method);
}

export class RequestSpans {
  /** Index of the oldest row, and how many rows are waiting. */
  head = 0;
  count = 0;
  /** Spans dropped because the ring was full, since start. */
  dropped = 0;

  /** Our version-00 traceparent: the trace and span ids at TRACE_ID_AT and SPAN_ID_AT. */
  readonly traceparent: string[];
  readonly parentSpanId: (string | undefined)[];
  readonly method: string[];
  /** Path and query as received: encoders drop the query. */
  readonly path: string[];
  /** The Host header as sent (with port): encoders keep the name for server.address. */
  readonly host: string[];
  readonly route: string[];
  /** error.type when the upstream failed or answered 5xx. */
  readonly errorType: (string | undefined)[];
  readonly https: Uint8Array;
  readonly port: Uint16Array;
  readonly status: Uint16Array;
  readonly startMs: Float64Array;
  readonly endMs: Float64Array;

  constructor(
    readonly capacity: number,
    /** Called after a row is added while `count` is at least `batchSize`: the exporter starts a send if idle. */
    private readonly batchSize: number,
    private readonly onBatch: () => void,
  ) {
    const strings = () => new Array<string>(capacity).fill("");
    this.traceparent = strings();
    this.parentSpanId = new Array<string | undefined>(capacity).fill(undefined);
    this.method = strings();
    this.path = strings();
    this.host = strings();
    this.route = strings();
    this.errorType = new Array<string | undefined>(capacity).fill(undefined);
    this.https = new Uint8Array(capacity);
    this.port = new Uint16Array(capacity);
    this.status = new Uint16Array(capacity);
    this.startMs = new Float64Array(capacity);
    this.endMs = new Float64Array(capacity);
  }

  /** Ends a sampled request's span (RequestTracing.finish): one row of the ring, or a drop when the ring is full. */
  record(ctx: ForwardContext, method: string, route: string, status: number, error: unknown): void {
    if (this.count >= this.capacity) {
      this.dropped++;
      return;
    }
    const at = (this.head + this.count) % this.capacity;
    this.traceparent[at] = ctx.traceparent as string;
    this.parentSpanId[at] = ctx.parentSpanId;
    this.method[at] = method;
    this.path[at] = ctx.path ?? "/";
    this.host[at] = ctx.host;
    this.route[at] = route;
    this.https[at] = ctx.proto === "https" ? 1 : 0;
    this.port[at] = ctx.port;
    this.status[at] = status;
    const endMs = nowMs();
    // A context without a start (a caller other than server.ts) gets a zero-length span rather than one from 1970.
    this.startMs[at] = ctx.spanStartMs ?? endMs;
    this.endMs[at] = endMs;
    this.errorType[at] =
      error !== undefined && error !== null ? upstreamErrorKind(error) : status >= 500 ? String(status) : undefined;
    if (++this.count >= this.batchSize) this.onBatch();
  }

  /** The ring index of the k-th waiting row (k < count). */
  row(k: number): number {
    return (this.head + k) % this.capacity;
  }

  /** Forgets the `n` oldest rows once they are encoded. */
  release(n: number): void {
    for (let k = 0; k < n; k++) {
      const at = this.row(k);
      // Let go of the strings a request left (its path can be long); the slot is overwritten later anyway.
      this.path[at] = "";
      this.host[at] = "";
      this.traceparent[at] = "";
    }
    this.head = (this.head + n) % this.capacity;
    this.count -= n;
  }
}

/** `myapp.local:8443` → `myapp.local`; `[::1]:443` → `::1`. */
function hostnameOf(host: string): string {
  if (host.startsWith("[")) return host.slice(1, Math.max(1, host.indexOf("]")));
  const colon = host.indexOf(":");
  return colon === -1 ? host : host.slice(0, colon);
}

/** The query can hold tokens and is not part of url.path (semconv), so it is never recorded. */
export function withoutQuery(path: string): string {
  const at = path.indexOf("?");
  return at === -1 ? path : path.slice(0, at);
}

/** What every span of one route, listener, Host and method has in common. */
export interface SpanConstants {
  /** `GET myapp.local`, or `HTTP myapp.local` for a method outside the semconv list. */
  name: string;
  /** http.request.method: the method, or `_OTHER` with the original in `methodOriginal`. */
  method: string;
  methodOriginal: string | undefined;
  scheme: "http" | "https";
  /** server.address: the Host header's name. */
  address: string;
  port: number;
  route: string;
}

interface ConstantsEntry {
  route: string;
  https: number;
  port: number;
  byMethod: Map<string, Uint8Array>;
}

/** Distinct Host headers remembered; past this the cache starts over (a wildcard route can see any number). */
const CONSTANTS_CACHE_LIMIT = 256;

/**
 * An encoder's cache of the bytes every span of one (Host, route, listener, method) shares, built once by `build`
 * and copied per span: a request span then costs its ids, times, path and status, not a dozen attribute encodings.
 */
export class ConstantsCache {
  private readonly byHost = new Map<string, ConstantsEntry>();
  /**
   * The last span's key and bytes: a batch is mostly runs of one route, and comparing with the last key saves
   * hashing each request's own Host string into the maps (~40 ns a span, measured with 512-span batches).
   */
  private last = { host: "", route: "", https: -1, port: -1, method: "", bytes: new Uint8Array(0) as Uint8Array };

  constructor(private readonly build: (constants: SpanConstants) => Uint8Array) {}

  bytes(spans: RequestSpans, at: number): Uint8Array {
    const host = spans.host[at] as string;
    const route = spans.route[at] as string;
    const https = spans.https[at] as number;
    const port = spans.port[at] as number;
    const method = spans.method[at] as string;
    const last = this.last;
    if (
      host === last.host &&
      route === last.route &&
      method === last.method &&
      https === last.https &&
      port === last.port
    )
      return last.bytes;
    const bytes = this.lookup(host, route, https, port, method);
    this.last = { host, route, https, port, method, bytes };
    return bytes;
  }

  private lookup(host: string, route: string, https: number, port: number, method: string): Uint8Array {
    let entry = this.byHost.get(host);
    if (entry === undefined || entry.route !== route || entry.https !== https || entry.port !== port) {
      if (this.byHost.size >= CONSTANTS_CACHE_LIMIT) this.byHost.clear();
      entry = { route, https, port, byMethod: new Map() };
      this.byHost.set(host, entry);
    }
    let bytes = entry.byMethod.get(method);
    if (bytes === undefined) {
      const known = isKnownMethod(method);
      bytes = this.build({
        name: `${known ? method : "HTTP"} ${route}`,
        method: known ? method : "_OTHER",
        methodOriginal: known ? undefined : method,
        scheme: https ? "https" : "http",
        address: hostnameOf(host),
        port,
        route,
      });
      // Client input: an unbounded variety of unknown methods must not grow the cache without end.
      if (entry.byMethod.size >= CONSTANTS_CACHE_LIMIT) entry.byMethod.clear();
      entry.byMethod.set(method, bytes);
    }
    return bytes;
  }
}

/** An encoder's cache of the bytes for each response status (the status code attribute and the span's status). */
export function statusCache(build: (status: number) => Uint8Array): (status: number) => Uint8Array {
  const byStatus: (Uint8Array | undefined)[] = [];
  return (status) => {
    let bytes = byStatus[status];
    if (bytes === undefined) {
      bytes = build(status);
      byStatus[status] = bytes;
    }
    return bytes;
  };
}
