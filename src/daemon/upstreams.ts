/**
 * Chooses how each route's upstream is reached: the pooled HTTP/1.1 client for `http://` targets (fast, bounded
 * keep-alive pool, DESIGN.md), fetch for `https://` targets.
 */
import { fetchUpstream } from "../proxy/fetch-upstream.ts";
import type { Upstream } from "../proxy/forward.ts";
import { UpstreamPool } from "../proxy/upstream/index.ts";

/** Bounds upstream sockets per dev server: 500 concurrent clients share at most this many connections. */
const MAX_UPSTREAM_SOCKETS_PER_ORIGIN = 128;

export interface Upstreams {
  upstream: Upstream;
  /** Bytes to and from plain-HTTP dev servers (the pooled client counts them; fetch to https:// targets does not). */
  traffic(): { sent: number; received: number };
  /** Closes the pool's idle keep-alive sockets; returns how many. */
  closeIdle(): number;
  close(): void;
}

export function createUpstreams(): Upstreams {
  const pool = new UpstreamPool({ maxSocketsPerOrigin: MAX_UPSTREAM_SOCKETS_PER_ORIGIN });
  const upstream: Upstream = (route, request) => {
    if (route.target.protocol !== "http:") return fetchUpstream(route, request);
    return pool.request(
      { hostname: route.target.hostname, port: route.target.port },
      {
        method: request.method,
        path: request.path,
        headers: request.headers,
        body: request.body,
        contentLength: request.contentLength,
        signal: request.signal,
        onResponseEnd: request.onResponseEnd,
      },
    );
  };
  const traffic = () => {
    const { bytesSent, bytesReceived } = pool.stats();
    return { sent: bytesSent, received: bytesReceived };
  };
  return { upstream, traffic, closeIdle: () => pool.closeIdleSockets(), close: () => pool.close() };
}
