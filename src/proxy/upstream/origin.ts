/**
 * The pool for one upstream origin (host + port): idle keep-alive sockets (LIFO, so the warmest socket is
 * reused and the coldest ones age out), a socket budget, and a FIFO of requests waiting for a socket.
 */
import type { Connection, UpstreamTraffic } from "./connection.ts";
import { type DialTarget, dial } from "./dial.ts";
import { UpstreamError } from "./errors.ts";
import { type Exchange, type ExchangeOwner, PHASE_CONNECTING, PHASE_QUEUED } from "./exchange.ts";
import { hostFieldValue } from "./serialize.ts";

/** Settings and counters shared by every origin of one pool. */
export interface PoolShared {
  readonly maxSocketsPerOrigin: number;
  readonly connectTimeoutMs: number;
  /** Sweep ticks elapsed; idle sockets are aged in ticks so releasing one never reads a clock. */
  tick: number;
  open: number;
  idle: number;
  queued: number;
  closed: boolean;
  traffic: UpstreamTraffic;
}

/** Drop the consumed head of the FIFO once it is this long and at least half the array. */
const QUEUE_COMPACT_MIN = 1024;

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
  private readonly queue: (Exchange | undefined)[] = [];
  private queueHead = 0;
  private open = 0;

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
    this.shared.idle++;
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
    ex.bodySent = ex.req.body === null;
    this.connectFor(ex);
  }

  forgetQueued(): void {
    // The exchange stays in the array as a tombstone; dequeue() skips it by phase.
    this.shared.queued--;
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

  /** Fails queued requests and closes every socket, active ones included. */
  shutdown(): void {
    for (let ex = this.dequeue(); ex !== undefined; ex = this.dequeue()) ex.fail(poolClosedError());
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
    const queue = this.queue;
    while (this.queueHead < queue.length) {
      const ex = queue[this.queueHead];
      queue[this.queueHead++] = undefined;
      if (this.queueHead === queue.length) {
        queue.length = 0;
        this.queueHead = 0;
      } else if (this.queueHead >= QUEUE_COMPACT_MIN && this.queueHead * 2 >= queue.length) {
        queue.splice(0, this.queueHead);
        this.queueHead = 0;
      }
      if (ex !== undefined && ex.phase === PHASE_QUEUED) {
        this.shared.queued--;
        return ex;
      }
    }
    return undefined;
  }
}
