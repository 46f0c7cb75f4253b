/**
 * UpstreamPool: the proxy's HTTP/1.1 client for plain-HTTP dev servers. Bun's fetch costs ≈14 µs a request and
 * opens a socket per concurrent request (a TIME_WAIT storm at a few hundred clients, see DESIGN.md); this keeps
 * a bounded set of keep-alive sockets per origin and does one write and one parse per exchange.
 */
import { Exchange } from "./exchange.ts";
import { Origin, type PoolShared, poolClosedError } from "./origin.ts";
import { type BodyAhead, readAhead, type StreamingBody, wholeBody } from "./request-body.ts";
import { encodeHead, serializeHead } from "./serialize.ts";
import type { UpstreamPoolOptions, UpstreamPoolStats, UpstreamRequest, UpstreamTarget } from "./types.ts";

const DEFAULT_MAX_SOCKETS_PER_ORIGIN = 256;
const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** Most API calls and form posts fit: they are sent whole and never hold a socket while the client types. */
const DEFAULT_REQUEST_BUFFER_BYTES = 64 * 1024;
/** Idle sockets are checked at most this often; they live up to one period past idleTimeoutMs. */
const MAX_SWEEP_PERIOD_MS = 1_000;
const MIN_SWEEP_PERIOD_MS = 5;
const MAX_PORT = 65_535;

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`UpstreamPool option ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

function checkTarget(target: UpstreamTarget): void {
  if (target.hostname.length === 0 || !Number.isInteger(target.port) || target.port < 1 || target.port > MAX_PORT) {
    throw new TypeError(`invalid upstream target ${JSON.stringify(target)}`);
  }
}

export class UpstreamPool {
  private readonly shared: PoolShared;
  /** Port → host name → origin: found without building a key, as a route with several backends alternates them. */
  private readonly origins = new Map<number, Map<string, Origin>>();
  /** Most proxies talk to one upstream at a time: skip the map lookup for a repeat. */
  private lastOrigin: Origin | null = null;
  private readonly maxIdleTicks: number;
  private readonly requestBufferBytes: number;
  private readonly sweepPeriodMs: number;
  /** Runs only while a socket is idle (PoolShared.wake starts it, sweep() stops it). */
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(options: UpstreamPoolOptions = {}) {
    const idleTimeoutMs = positiveInteger("idleTimeoutMs", options.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS);
    const maxSocketsPerOrigin = positiveInteger(
      "maxSocketsPerOrigin",
      options.maxSocketsPerOrigin,
      DEFAULT_MAX_SOCKETS_PER_ORIGIN,
    );
    const halfOfSockets = Math.max(1, Math.floor(maxSocketsPerOrigin / 2));
    this.requestBufferBytes = positiveInteger(
      "requestBufferBytes",
      options.requestBufferBytes,
      DEFAULT_REQUEST_BUFFER_BYTES,
    );
    this.shared = {
      maxSocketsPerOrigin,
      maxUploadsPerOrigin: positiveInteger("maxUploadsPerOrigin", options.maxUploadsPerOrigin, halfOfSockets),
      connectTimeoutMs: positiveInteger("connectTimeoutMs", options.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS),
      tick: 0,
      open: 0,
      idle: 0,
      queued: 0,
      closed: false,
      traffic: { sent: 0, received: 0 },
      wake: () => this.startSweeper(),
    };
    const periodMs = Math.min(MAX_SWEEP_PERIOD_MS, Math.max(MIN_SWEEP_PERIOD_MS, Math.floor(idleTimeoutMs / 4)));
    this.sweepPeriodMs = periodMs;
    this.maxIdleTicks = Math.ceil(idleTimeoutMs / periodMs);
  }

  private startSweeper(): void {
    if (this.sweeper !== undefined || this.shared.closed) return;
    this.sweeper = setInterval(() => this.sweep(), this.sweepPeriodMs);
    // The sweeper alone must not keep a process alive.
    this.sweeper.unref();
  }

  /**
   * Sends `req` to `target`; resolves when the final response head arrives, the body streams afterwards. A request
   * body is read ahead first (request-body.ts), so a slow client does not hold a socket while it sends a small one.
   */
  request(target: UpstreamTarget, req: UpstreamRequest): Promise<Response> {
    if (this.shared.closed) return Promise.reject(poolClosedError());
    const body = req.body;
    let origin: Origin;
    try {
      origin = this.originFor(target);
      if (body === null) return this.submit(origin, req, encodeHead(serializeHead(req, origin.hostHeader)), null);
    } catch (err) {
      return Promise.reject(err);
    }
    return readAhead(body, this.requestBufferBytes).then((ahead) => this.submitAhead(origin, req, ahead));
  }

  private submitAhead(origin: Origin, req: UpstreamRequest, ahead: BodyAhead): Promise<Response> {
    const rest = ahead.rest;
    if (rest !== null) {
      const stream = { chunks: ahead.chunks, reader: rest };
      try {
        return this.submit(origin, req, encodeHead(serializeHead(req, origin.hostHeader)), stream);
      } catch (err) {
        rest.cancel(err).catch(cancelOfAbandonedBody);
        return Promise.reject(err);
      }
    }
    try {
      // The whole body is here: it goes out behind the head, framed by its actual length (as nginx does once it has
      // buffered a body).
      const bytes = wholeBody(ahead, req.contentLength);
      const head = serializeHead({ ...req, contentLength: bytes.byteLength }, origin.hostHeader);
      return this.submit(origin, req, Buffer.concat([Buffer.from(head, "latin1"), bytes]), "whole");
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Queues the exchange on its origin; throws when the pool is closed or the request was aborted meanwhile. */
  private submit(
    origin: Origin,
    req: UpstreamRequest,
    head: string | Buffer,
    body: StreamingBody | "whole" | null,
  ): Promise<Response> {
    if (this.shared.closed) throw poolClosedError();
    const signal = req.signal;
    if (signal?.aborted) throw signal.reason;
    const stream = body === null || body === "whole" ? null : body;
    const ex = new Exchange(origin, req, head, { inHead: body === "whole", stream });
    origin.submit(ex);
    return ex.promise;
  }

  stats(): UpstreamPoolStats {
    const { open, idle, queued, traffic } = this.shared;
    return { open, idle, queued, bytesSent: traffic.sent, bytesReceived: traffic.received };
  }

  /** Closes every idle keep-alive socket now (the daemon is short of file descriptors); returns how many. */
  closeIdleSockets(): number {
    let closed = 0;
    for (const origin of this.allOrigins()) closed += origin.closeIdle();
    return closed;
  }

  /**
   * Fails queued and in-flight requests and closes every socket. The pool cannot be used afterwards.
   * Open sockets keep a process alive (as any Bun socket does), so a short-lived process must call this.
   */
  close(): void {
    if (this.shared.closed) return;
    this.shared.closed = true;
    clearInterval(this.sweeper);
    for (const origin of this.allOrigins()) origin.shutdown();
    this.origins.clear();
    this.lastOrigin = null;
  }

  private originFor(target: UpstreamTarget): Origin {
    const last = this.lastOrigin;
    if (last !== null && last.hostname === target.hostname && last.port === target.port) return last;
    let byHost = this.origins.get(target.port);
    let origin = byHost?.get(target.hostname);
    if (origin === undefined) {
      checkTarget(target);
      origin = new Origin(this.shared, target.hostname, target.port);
      if (byHost === undefined) {
        byHost = new Map();
        this.origins.set(target.port, byHost);
      }
      byHost.set(target.hostname, origin);
    }
    this.lastOrigin = origin;
    return origin;
  }

  private *allOrigins(): Generator<Origin> {
    for (const byHost of this.origins.values()) yield* byHost.values();
  }

  private sweep(): void {
    this.shared.tick++;
    if (this.shared.idle > 0) for (const origin of this.allOrigins()) origin.sweep(this.maxIdleTicks);
    // Nothing left to age: stop until a socket goes idle again. Ticks only order idle sockets, so pausing them is safe.
    if (this.shared.idle === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}

/** The request failed before it was sent; whether the client's stream agrees to be cancelled changes nothing. */
function cancelOfAbandonedBody(_ignored: unknown): void {}
