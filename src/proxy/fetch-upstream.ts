/**
 * The upstream seam implemented with Bun's fetch. Used for `https://` targets (the pooled HTTP/1.1 client speaks
 * plain HTTP only) and as a reference implementation in tests.
 */
import type { OutgoingRequest, Upstream } from "./forward.ts";
import { stripResponseHopHeaders } from "./headers.ts";
import type { ProxyRoute } from "./router.ts";

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);

export const fetchUpstream: Upstream = (route: ProxyRoute, request: OutgoingRequest) => {
  const target = request.target ?? route.target;
  const headers = new Headers();
  for (const [name, value] of request.headers) headers.append(name, value);
  const init: RequestInit & { decompress: boolean; tls?: { rejectUnauthorized: boolean }; duplex?: "half" } = {
    method: request.method,
    headers,
    body: request.body,
    redirect: "manual",
    // Pass compressed bodies through untouched: fetch would otherwise unzip them but keep Content-Encoding (DESIGN.md).
    decompress: false,
    signal: request.signal,
  };
  if (request.body) {
    init.duplex = "half";
    // Without it fetch sends a stream chunked; the length is the validated one (framing.ts), never the client's text.
    if (request.contentLength !== undefined) headers.set("content-length", String(request.contentLength));
  }
  // A dev server on loopback with HTTPS almost always has a self-signed certificate: accept it, on loopback only.
  if (target.protocol === "https:" && LOOPBACK_HOSTS.has(target.hostname)) init.tls = { rejectUnauthorized: false };
  const onEnd = request.onResponseEnd;
  const response = fetch(`${target.origin}${request.path}`, init).then(stripResponseHopHeaders);
  return onEnd === undefined ? response : response.then((upstream) => endingWith(upstream, onEnd));
};

/**
 * Calls `onEnd` when the body has been read to its end (or now, without one). A body the client cancels or that
 * fails never calls it: the connection then keeps no keep-alive timer until its next request, as before.
 */
function endingWith(response: Response, onEnd: () => void): Response {
  const body = response.body;
  if (body === null) {
    onEnd();
    return response;
  }
  const watched = body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ flush: onEnd }));
  return new Response(watched, { status: response.status, statusText: response.statusText, headers: response.headers });
}
