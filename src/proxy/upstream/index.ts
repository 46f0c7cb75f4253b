/**
 * src/proxy/upstream: the proxy's pooled HTTP/1.1 client for plain-HTTP dev servers, built on Bun.connect.
 *
 * It owns: request serialization (serialize.ts), response head parsing (parser.ts), body framing
 * (body-decoder.ts, body-writer.ts), one socket's state machine (connection.ts), dialing incl. the
 * localhost IPv4/IPv6 fallback (dial.ts), per-origin keep-alive pools (origin.ts) and the public pool (pool.ts).
 * HTTPS upstreams and WebSocket upgrades are not handled here (fetch and the proxy's upgrade bridge do those).
 */
export { isUpstreamError, UpstreamError, type UpstreamErrorKind } from "./errors.ts";
export { UpstreamPool } from "./pool.ts";
export { discardBody } from "./request-body.ts";
export type { UpstreamPoolOptions, UpstreamPoolStats, UpstreamRequest, UpstreamTarget } from "./types.ts";
