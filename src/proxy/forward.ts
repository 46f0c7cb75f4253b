/**
 * Request → Response for one route: the web-standard core of the proxy. The upstream call is injected, so tests
 * can drive this without sockets and the server wiring (server.ts) stays thin.
 */
import { replaceHeader, upstreamRequestHeaders } from "./headers.ts";
import { badGatewayPage } from "./pages.ts";
import type { ProxyRoute } from "./router.ts";

/** What the upstream seam receives: everything already rewritten for the upstream. */
export interface OutgoingRequest {
  method: string;
  /** origin-form: path and query. */
  path: string;
  headers: [string, string][];
  body: ReadableStream<Uint8Array> | null;
  contentLength: number | undefined;
  signal: AbortSignal;
}

/**
 * Sends a request to a route's target. Resolves with a Response that has no hop-by-hop headers (the pooled client
 * never keeps them; fetchUpstream strips them), so forward() passes it on untouched. Rejects with an error whose
 * `kind` (when present) says why.
 */
export type Upstream = (route: ProxyRoute, request: OutgoingRequest) => Promise<Response>;

export interface ForwardContext {
  host: string;
  clientIp: string;
  proto: "http" | "https";
  port: number;
  via: string;
  /** Set when the client asked to close the connection: we answer `Connection: close` (Bun does not, see DESIGN). */
  clientClose: boolean;
  /** Set for a traced request (forwardTraced): replaces the client's `traceparent` toward the upstream. */
  traceparent?: string;
}

/** What a request tracer tells about the request it is to trace. */
export interface RequestInfo {
  /** Host header as sent (with port). */
  host: string;
  route: string;
  proto: "http" | "https";
  /** The listener's port. */
  port: number;
  /** Path and query as received. */
  path: string;
}

/**
 * Per-request tracing (telemetry/tracing.ts implements it; the daemon wires it in). When a proxy has none, its request
 * path does no tracing work at all, and a client's `traceparent` reaches the upstream untouched like any header.
 */
export interface RequestTracing {
  /** Undefined: not sampled; the client's `traceparent` (if any) then passes through unchanged. */
  start(req: Request, info: RequestInfo): RequestSpan | undefined;
}

/** The server span of one request: the upstream gets `traceparent` (same trace, this span as the parent). */
export interface RequestSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceparent: string;
  /** Ends the span at response headers, like RequestEvent.durationMs. */
  finish(status: number, error: unknown): void;
}

/** The path and query of a Request URL without parsing the whole URL (hot path). */
export function pathOf(url: string): string {
  // Bun leaves req.url in origin-form when the Host header is not a valid authority (`myapp.local:<x>`).
  if (url.charCodeAt(0) === 47 /* / */) return url;
  const slash = url.indexOf("/", url.indexOf("//") + 2);
  return slash === -1 ? "/" : url.slice(slash);
}

function describeFailure(error: unknown): string {
  // `?.`: an upstream may reject with anything, even null; that must still be a 502, not a crash.
  const kind = (error as { kind?: string } | null)?.kind ?? (error as { code?: string } | null)?.code;
  switch (kind) {
    case "refused":
    case "ConnectionRefused":
    case "ECONNREFUSED":
      return "connection refused";
    case "timeout":
      return "timed out";
    case "reset":
    case "ECONNRESET":
      return "connection reset";
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

export async function forward(req: Request, route: ProxyRoute, ctx: ForwardContext, upstream: Upstream) {
  const target = route.target;
  const upstreamHost = route.preserveHost ? ctx.host : `${target.hostname}:${target.port}`;
  const lengthHeader = req.headers.get("content-length");
  const outgoing: OutgoingRequest = {
    method: req.method,
    path: pathOf(req.url),
    headers: upstreamRequestHeaders(req.headers, ctx, upstreamHost, route.headers),
    body: req.body,
    contentLength: lengthHeader === null ? undefined : Number(lengthHeader),
    signal: req.signal,
  };
  if (ctx.traceparent !== undefined) replaceHeader(outgoing.headers, "traceparent", ctx.traceparent);
  let response: Response;
  try {
    response = await upstream(route, outgoing);
  } catch (error) {
    const page = badGatewayPage(req, route, describeFailure(error));
    return { response: ctx.clientClose ? withConnectionClose(page) : page, error };
  }
  if (ctx.clientClose) response = withConnectionClose(response);
  return { response, error: undefined };
}

/** forward() inside a server span from `tracing` (when sampled); returns the span for the request log. */
export async function forwardTraced(
  req: Request,
  route: ProxyRoute,
  ctx: ForwardContext,
  upstream: Upstream,
  tracing: RequestTracing,
) {
  const info = { host: ctx.host, route: route.name, proto: ctx.proto, port: ctx.port, path: pathOf(req.url) };
  const span = tracing.start(req, info);
  if (span) ctx.traceparent = span.traceparent;
  const result = await forward(req, route, ctx, upstream);
  span?.finish(result.response.status, result.error);
  return { ...result, span };
}

function withConnectionClose(response: Response): Response {
  try {
    response.headers.set("connection", "close");
    return response;
  } catch (error) {
    // fetch() responses carry immutable headers (Fetch spec "immutable" guard): copy them instead.
    if (!(error instanceof TypeError)) throw error;
    const headers = new Headers(response.headers);
    headers.set("connection", "close");
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  }
}
