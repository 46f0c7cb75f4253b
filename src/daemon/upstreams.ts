/**
 * Chooses how each route's upstream is reached: the pooled HTTP/1.1 client for `http://` targets (fast, bounded
 * keep-alive pool, DESIGN.md), fetch for `https://` targets.
 */
import type { HealthCheck } from "../proxy/balancers.ts";
import { fetchUpstream } from "../proxy/fetch-upstream.ts";
import type { Upstream } from "../proxy/forward.ts";
import { UpstreamPool } from "../proxy/upstream/index.ts";

/** Bounds upstream sockets per dev server: 500 concurrent clients share at most this many connections. */
const MAX_UPSTREAM_SOCKETS_PER_ORIGIN = 128;
/** A health check that takes longer counts as failed (a dev server busy compiling for this long is not serving). */
const HEALTH_CHECK_TIMEOUT_MS = 2_000;
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "::1"]);

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
    const target = request.target ?? route.target;
    if (target.protocol !== "http:") return fetchUpstream(route, request);
    return pool.request(
      { hostname: target.hostname, port: target.port },
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

/**
 * The active check of a route's backends (`health`, proxy/balancers.ts): `GET path` with fetch, outside the
 * request pool, so a check never waits behind client requests for a socket. 2xx and 3xx are healthy, as for
 * Caddy's active health checks (https://caddyserver.com/docs/caddyfile/directives/reverse_proxy#active-health-checks).
 */
export const healthCheck: HealthCheck = async (target, path) => {
  const init: RequestInit & { tls?: { rejectUnauthorized: boolean } } = {
    redirect: "manual",
    signal: AbortSignal.timeout(HEALTH_CHECK_TIMEOUT_MS),
    headers: { "user-agent": "gotunnel-health-check" },
  };
  // As for requests (fetch-upstream.ts): a loopback HTTPS dev server's self-signed certificate is accepted.
  if (target.protocol === "https:" && LOOPBACK_HOSTS.has(target.hostname)) init.tls = { rejectUnauthorized: false };
  try {
    const response = await fetch(`${target.origin}${path}`, init);
    await response.body?.cancel();
    return response.status >= 200 && response.status < 400 ? undefined : `${path} answered ${response.status}`;
  } catch (error) {
    const code = (error as { code?: string }).code;
    return `${path}: ${code ?? (error as Error).message ?? String(error)}`;
  }
};
