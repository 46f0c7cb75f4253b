/**
 * The pool for one upstream origin (host + port): idle keep-alive sockets (LIFO, so the warmest socket is
 * reused and the coldest ones age out), a socket budget, and a FIFO of requests waiting for a socket.
 *
 * Requests whose body still streams from the client (request-body.ts: too large to read ahead) hold a socket for as
 * long as the client takes to send it, which a slow client can stretch without end. At most `maxUploadsPerOrigin`
 * of them hold sockets at once; the others wait in their own FIFO without one, so the rest of the budget stays
 * free for everyone else (issue 15: 130 uploads at 1 byte/s had taken every socket of a route).
 */
import type { Connection, UpstreamTraffic } from "./connection.ts";
import { type DialTarget, dial } from "./dial.ts";
import { UpstreamError } from "./errors.ts";
import { type Exchange, type ExchangeOwner, PHASE_CONNECTING } from "./exchange.ts";
import { ExchangeQueue } from "./exchange-queue.ts";
import { hostFieldValue } from "./serialize.ts";

/** Settings and counters shared by every origin of one pool. */
export interface PoolShared {
  readonly maxSocketsPerOrigin: number;
  /** Sockets per origin that requests still streaming their body from the client may hold. */
  readonly maxUploadsPerOrigin: number;
  readonly connectTimeoutMs: number;
  /** Sweep ticks elapsed; idle sockets are aged in ticks so releasing one never reads a clock. */
  tick: number;
  /** Starts the sweep timer, which runs only while some socket is idle (an idle daemon has no timer to wake it). */
  wake(): void;
  open: number;
  idle: number;
  queued: number;
  closed: boolean;
  traffic: UpstreamTraffic;
}

export function poolClosedError(): UpstreamError {
  return new UpstreamError("reset", "the upstream connection pool was closed");
}

function isLocalhostName(hostname: string): boolean {
  const lower = hostname.toLowerCase();
  return lower === "localhost" || lower.endsWith(".localhost");
}

export class Origin implements DialTarget, ExchangeOwner {
  readonly hostname: string;
  readonly port: number;
  readonly label: string;
  readonly address: string;
  readonly isLocalhost: boolean;
  readonly hostHeader: string;
  preferredLoopback: string | null = null;
  private readonly shared: PoolShared;
  readonly traffic: UpstreamTraffic;
  private readonly idle: Connection[] = [];
  private readonly live = new Set<Connection>();
  private readonly queue = new ExchangeQueue();
  /** Requests with a streaming body waiting for an upload slot (they hold no socket meanwhile). */
  private readonly uploadQueue = new ExchangeQueue();
  private open = 0;
  private uploads = 0;

  constructor(shared: PoolShared, hostname: string, port: number) {
    this.shared = shared;
    this.traffic = shared.traffic;
    this.hostname = hostname;
    this.port = port;
    const bare = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
    this.address = bare;
    this.isLocalhost = isLocalhostName(bare);
    this.hostHeader = hostFieldValue(bare, port);
    this.label = `${bare.includes(":") ? `[${bare}]` : bare}:${port}`;
  }

  submit(ex: Exchange): void {
    if (ex.stream !== null && !ex.holdsUploadSlot) {
      if (this.uploads >= this.shared.maxUploadsPerOrigin) {
        this.uploadQueue.push(ex);
        this.shared.queued++;
        return;
      }
      this.uploads++;
      ex.holdsUploadSlot = true;
    }
    const conn = this.takeIdle();
    if (conn !== null) conn.start(ex, true);
    else if (this.open < this.shared.maxSocketsPerOrigin) this.connectFor(ex);
    else {
      this.queue.push(ex);
      this.shared.queued++;
    }
  }

  release(conn: Connection): void {
    const next = this.dequeue();
    if (next !== undefined) {
      conn.start(next, true);
      return;
    }
    conn.idleSinceTick = this.shared.tick;
    this.idle.push(conn);
    if (this.shared.idle++ === 0) this.shared.wake();
  }

  closed(conn: Connection): void {
    this.live.delete(conn);
    this.open--;
    this.shared.open--;
    const index = this.idle.lastIndexOf(conn);
    if (index !== -1) {
      this.idle.splice(index, 1);
      this.shared.idle--;
    }
    this.dispatchQueued();
  }

  retry(conn: Connection, ex: Exchange): void {
    this.live.delete(conn);
    this.open--;
    this.shared.open--;
    ex.retried = true;
    ex.conn = null;
    // Whatever reached the dead socket is lost: the body (if any) must be sent again on the fresh one.
    ex.bodySent = !ex.hasRequestBody;
    this.connectFor(ex);
  }

  forgetQueued(): void {
    // The exchange stays in its queue as a tombstone, skipped by phase when its turn comes.
    this.shared.queued--;
  }

  uploadEnded(): void {
    this.uploads--;
    if (this.shared.closed) return;
    const next = this.uploadQueue.shift();
    if (next === undefined) return;
    this.shared.queued--;
    this.submit(next);
  }

  /** Closes sockets idle for more than `maxIdleTicks` sweep ticks (the oldest are at the front). */
  sweep(maxIdleTicks: number): void {
    const idle = this.idle;
    let expired = 0;
    while (expired < idle.length && this.shared.tick - idle[expired]!.idleSinceTick > maxIdleTicks) expired++;
    if (expired === 0) return;
    const victims = idle.splice(0, expired);
    this.shared.idle -= expired;
    for (const conn of victims) conn.close();
  }

  /** Closes every idle socket now; returns how many. */
  closeIdle(): number {
    const victims = this.idle.splice(0);
    this.shared.idle -= victims.length;
    for (const conn of victims) conn.close();
    return victims.length;
  }

  /** Fails queued requests and closes every socket, active ones included. */
  shutdown(): void {
    for (let ex = this.dequeue(); ex !== undefined; ex = this.dequeue()) ex.fail(poolClosedError());
    for (let ex = this.uploadQueue.shift(); ex !== undefined; ex = this.uploadQueue.shift()) {
      this.shared.queued--;
      ex.fail(poolClosedError());
    }
    for (const conn of [...this.live]) {
      const ex = conn.exchange;
      conn.destroy();
      ex?.fail(poolClosedError());
    }
  }

  private takeIdle(): Connection | null {
    const conn = this.idle.pop();
    if (conn === undefined) return null;
    this.shared.idle--;
    return conn;
  }

  private connectFor(ex: Exchange): void {
    this.open++;
    this.shared.open++;
    ex.phase = PHASE_CONNECTING;
    dial(this, this.shared.connectTimeoutMs).then(
      (conn) => this.connected(conn, ex),
      (err: unknown) => this.connectFailed(ex, err),
    );
  }

  private connected(conn: Connection, ex: Exchange): void {
    this.live.add(conn);
    if (this.shared.closed) {
      conn.destroy();
      ex.fail(poolClosedError());
    } else if (ex.phase === PHASE_CONNECTING) {
      conn.start(ex, false);
    } else {
      // The request was aborted while we connected; the fresh socket serves the next one instead.
      this.release(conn);
    }
  }

  private connectFailed(ex: Exchange, err: unknown): void {
    this.open--;
    this.shared.open--;
    ex.fail(err);
    this.dispatchQueued();
  }

  private dispatchQueued(): void {
    while (!this.shared.closed && this.open < this.shared.maxSocketsPerOrigin) {
      const next = this.dequeue();
      if (next === undefined) return;
      this.connectFor(next);
    }
  }

  private dequeue(): Exchange | undefined {
    const ex = this.queue.shift();
    if (ex !== undefined) this.shared.queued--;
    return ex;
  }
}
