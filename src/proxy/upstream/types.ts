/** The public shapes of the upstream client. Plain data: no Bun types leak through them. */

/** A plain-HTTP upstream origin. HTTPS upstreams go through `fetch`, not this client. */
export interface UpstreamTarget {
  /** A DNS name, an IPv4 literal, or an IPv6 literal with or without brackets. `localhost` gets special care. */
  hostname: string;
  port: number;
}

export interface UpstreamRequest {
  method: string;
  /** origin-form request target, query included (RFC 9112 §3.2.1), e.g. `/api/items?page=2`. */
  path: string;
  /** Already stripped of hop-by-hop fields, `Host` included. Content-Length/Transfer-Encoding are ours to write. */
  headers: [string, string][];
  body: ReadableStream<Uint8Array> | null;
  /** The exact body length when known: sent as Content-Length; otherwise the body is sent chunked. */
  contentLength?: number;
  signal?: AbortSignal;
  /**
   * Called once the response is over for the pool: when it resolves with a body it already has whole (or none), or
   * when a streamed body ends, fails or is cancelled. Not called when the request fails before a response.
   */
  onResponseEnd?: () => void;
}

export interface UpstreamPoolOptions {
  /** Sockets per origin (open or connecting); further requests wait in FIFO order. Default 256. */
  maxSocketsPerOrigin?: number;
  /**
   * Of those, how many requests whose body still streams from the client may hold (request-body.ts). Default: half
   * of maxSocketsPerOrigin, so slow uploads never take the whole pool.
   */
  maxUploadsPerOrigin?: number;
  /** Request bodies up to this size are read whole before they take a socket. Default 64 KiB. */
  requestBufferBytes?: number;
  /** An idle keep-alive socket is closed after this long unused. Default 30 000 ms. */
  idleTimeoutMs?: number;
  /** Give up on a TCP connect after this long. Default 5 000 ms. */
  connectTimeoutMs?: number;
}

export interface UpstreamPoolStats {
  /** Sockets open or connecting, across all origins. */
  open: number;
  /** Of those, the ones parked in idle lists. */
  idle: number;
  /** Requests waiting for a socket. */
  queued: number;
  /** Bytes written to and read from upstream sockets since the pool started (heads and bodies). */
  bytesSent: number;
  bytesReceived: number;
}
