/**
 * Request → Response for one route: the web-standard core of the proxy. The upstream call is injected, so tests
 * can drive this without sockets and the server wiring (server.ts) stays thin.
 */
import { isLoopbackAddress } from "../core/local-host.ts";
import { requestFraming } from "./framing.ts";
import { indexOfHeader, replaceHeader, routeRequestHeaders } from "./headers.ts";
import { badGatewayPage, badRequestPage, clientClosedResponse } from "./pages.ts";
import { explainRefusal, mayBeRefusal } from "./refusal.ts";
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
  /** See ForwardContext.onResponseEnd: the upstream calls it once its response (if any) is over. */
  onResponseEnd?: () => void;
  /** The backend to send to, set by balanced-upstream.ts for a route with several; unset: the route's `target`. */
  target?: ProxyRoute["target"];
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
  /** Path and query as received (pathOf(req.url)), when the caller already has it. */
  path?: string;
  /**
   * The request's server span, set by RequestTracing.start when it is sampled: our `traceparent` (version 00; it
   * holds the span's trace and span ids, see telemetry/trace-context.ts), which replaces the client's toward the
   * upstream, and the client's span id. The span lives in the context rather than in an object of its own, so a
   * traced request allocates little more than an untraced one; server.ts creates every field up front, so all
   * contexts share one shape.
   */
  traceparent?: string;
  parentSpanId?: string;
  /**
   * When the request reached the proxy, in wall-clock milliseconds with a fraction: the span's start. server.ts has
   * the clock reading anyway (for the request log's duration), so a traced request reads the clock once less.
   */
  spanStartMs?: number;
  /**
   * server.ts's keep-alive timer for the connection (Bun's runs during a request too, so it is off while the request
   * is forwarded): the upstream calls it once the response it resolved with is over, streamed bodies included.
   */
  onResponseEnd?: () => void;
}

/**
 * Per-request tracing (telemetry/otlp.ts implements it; the daemon wires it in). When a proxy has none, its request
 * path does no tracing work at all, and a client's `traceparent` reaches the upstream untouched like any header.
 */
export interface RequestTracing {
  /**
   * Decides sampling from the client's `traceparent` (null when absent) and, when sampled, sets the context's span
   * fields. Unsampled, `ctx.traceparent` stays undefined and the client's header passes through unchanged.
   */
  start(ctx: ForwardContext, incoming: string | null): void;
  /** Records a sampled request's span, ended now (at response headers, like RequestEvent.durationMs). */
  finish(ctx: ForwardContext, method: string, route: string, status: number, error: unknown): void;
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

export async function forward(
  req: Request,
  route: ProxyRoute,
  ctx: ForwardContext,
  upstream: Upstream,
  tracing?: RequestTracing,
) {
  const framing = requestFraming(req.headers.get("content-length"), req.headers.get("transfer-encoding"));
  // RFC 9112 §6.3 ¶5: a request whose length is in doubt gets a 400 and the connection is closed after it. (Over h2
  // Bun resets such a stream itself, RFC 9113 §8.1.1, before this handler runs.)
  if (framing.kind === "invalid") return { response: closing(badRequestPage(req, framing.reason)), error: undefined };
  const path = ctx.path ?? pathOf(req.url);
  const outgoing: OutgoingRequest = {
    method: req.method,
    path,
    headers: routeRequestHeaders(req.headers, ctx, route, path),
    body: req.body,
    contentLength: framing.kind === "length" ? framing.length : undefined,
    signal: req.signal,
    onResponseEnd: ctx.onResponseEnd,
  };
  if (tracing) {
    // The client's traceparent from the pairs just copied, rather than a second lookup through Bun's Headers.
    const pairs = outgoing.headers;
    const at = indexOfHeader(pairs, "traceparent");
    tracing.start(ctx, at === -1 ? null : (pairs[at] as [string, string])[1]);
    const ours = ctx.traceparent;
    if (ours !== undefined && at === -1) pairs.push(["traceparent", ours]);
    else if (ours !== undefined) replaceHeader(pairs, "traceparent", ours);
  }
  let response: Response;
  let error: unknown;
  try {
    response = await upstream(route, outgoing);
  } catch (failure) {
    // The client went away first (Bun aborts req.signal): not the upstream's failure, whatever the error says.
    if (req.signal.aborted) response = clientClosedResponse();
    else {
      error = failure;
      const local = isLoopbackAddress(ctx.clientIp);
      response = badGatewayPage(req, route, describeFailure(failure), local, outgoing.target);
    }
  }
  // A dev server refusing the route's name gets explained, to the client and in the log (refusal.ts).
  if (error === undefined && mayBeRefusal(response))
    ({ response, error } = await explainRefusal(req, route, path, response));
  if (ctx.clientClose) response = closing(response);
  if (ctx.traceparent !== undefined) tracing?.finish(ctx, outgoing.method, route.name, response.status, error);
  return { response, error };
}

function closing(response: Response): Response {
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
