/**
 * One pooled upstream socket and the exchange it is carrying. Socket callbacks are one shared handler object
 * that dispatches on `socket.data`, so a connection costs no closures (Bun's recommended shape for many sockets).
 */
import type { Socket, SocketHandler } from "bun";
import type { BodyMode } from "./body-decoder.ts";
import {
  BODY_CHUNKED,
  BODY_INCOMPLETE,
  BODY_LENGTH,
  BODY_NONE,
  BODY_UNTIL_CLOSE,
  BodyDecoder,
} from "./body-decoder.ts";
import { pumpRequestBody } from "./body-writer.ts";
import { isUpstreamError, protocolError, resetError } from "./errors.ts";
import { type Exchange, PHASE_BODY, PHASE_HEAD } from "./exchange.ts";
import { HeadReader } from "./head-reader.ts";
import { NO_CONTENT_LENGTH } from "./parser.ts";

export type UpstreamSocket = Socket<Connection>;

export interface UpstreamTraffic {
  sent: number;
  received: number;
}

/** What a connection needs from its origin's pool; implemented by Origin. */
export interface ConnectionOwner {
  readonly label: string;
  /** Byte totals shared by the whole pool (`/metrics`); bumped per socket read and write, nothing more. */
  readonly traffic: UpstreamTraffic;
  /** The exchange completed and the socket may carry another. */
  release(conn: Connection): void;
  /** The socket is gone (closed by either side); its slot is free. */
  closed(conn: Connection): void;
  /** A reused socket died before any response byte: replay `ex` on a fresh socket in the same slot. */
  retry(conn: Connection, ex: Exchange): void;
}

export const SOCKET_HANDLERS: SocketHandler<Connection> = {
  data(socket, data) {
    socket.data.onData(data);
  },
  drain(socket) {
    socket.data.onDrain();
  },
  close(socket, error) {
    socket.data.onClose(error);
  },
  error(socket, error) {
    socket.data.onError(error);
  },
};

export class Connection {
  readonly owner: ConnectionOwner;
  socket: UpstreamSocket | null = null;
  exchange: Exchange | null = null;
  disposed = false;
  /** Pool sweep tick at which this socket went idle. */
  idleSinceTick = 0;
  /** Bytes the socket did not accept yet; writers wait for `drain` before sending more. */
  pendingWrite: Uint8Array | null = null;
  private paused = false;
  private drainWaiter: (() => void) | null = null;
  private keepAlive = false;
  private readonly heads = new HeadReader();
  private readonly decoder = new BodyDecoder();

  constructor(owner: ConnectionOwner) {
    this.owner = owner;
  }

  attach(socket: UpstreamSocket): void {
    this.socket = socket;
    // Head and body go out as separate writes; Nagle would hold the second one for a delayed ACK.
    socket.setNoDelay(true);
  }

  /** Sends `ex`'s request on this socket. */
  start(ex: Exchange, reused: boolean): void {
    this.exchange = ex;
    this.heads.reset();
    ex.attached(this, reused);
    const whole = this.write(ex.head);
    if (ex.bodyInHead) {
      // The body went out with the head; if the socket took only part, onDrain finishes it.
      if (whole) ex.bodySent = true;
      return;
    }
    if (this.disposed) return;
    const stream = ex.stream;
    if (stream !== null && !ex.pumping) void pumpRequestBody(ex, stream);
  }

  /** Writes all of `data` or keeps the rest for `drain`. False means: wait for waitDrain() before writing more. */
  write(data: string | Uint8Array): boolean {
    const socket = this.socket;
    if (socket === null || this.disposed) return false;
    const written = socket.write(data);
    const length = typeof data === "string" ? data.length : data.byteLength;
    if (written > 0) this.owner.traffic.sent += written;
    if (written === length) return true;
    // -1: the socket is closing; its close callback settles the exchange.
    if (written < 0 || this.disposed) return false;
    const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    this.pendingWrite = bytes.subarray(written);
    return false;
  }

  waitDrain(): Promise<void> {
    if (this.pendingWrite === null || this.disposed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.drainWaiter = resolve;
    });
  }

  onDrain(): void {
    const pending = this.pendingWrite;
    if (pending === null || this.disposed || this.socket === null) return;
    const written = this.socket.write(pending);
    if (written < 0) return;
    this.owner.traffic.sent += written;
    if (written < pending.byteLength) {
      this.pendingWrite = pending.subarray(written);
      return;
    }
    this.pendingWrite = null;
    const ex = this.exchange;
    if (ex?.bodyInHead) ex.bodySent = true;
    this.wakeWriter();
  }

  pauseReading(): void {
    if (this.paused || this.disposed) return;
    this.paused = true;
    this.socket?.pause();
  }

  resumeReading(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.disposed) this.socket?.resume();
  }

  onData(buf: Buffer): void {
    if (this.disposed) return;
    this.owner.traffic.received += buf.length;
    const ex = this.exchange;
    if (ex === null) {
      // Bytes on an idle socket belong to no request (RFC 9112 §9.3): the connection is unusable.
      this.destroy();
      return;
    }
    ex.receivedBytes = true;
    try {
      let offset = 0;
      if (ex.phase === PHASE_HEAD) {
        offset = this.readHeads(ex, buf);
        if (offset < 0) return;
      }
      const end = this.decoder.push(buf, offset, buf.length, ex);
      const complete = end !== BODY_INCOMPLETE;
      if (ex.phase === PHASE_HEAD) ex.deliver(this.heads.head, complete);
      if (complete) this.complete(ex, end < buf.length);
      else if (ex.bodyBackedUp) this.pauseReading();
    } catch (err) {
      this.destroy();
      ex.fail(isUpstreamError(err) ? err : protocolError("unexpected failure while parsing", err));
    }
  }

  onClose(error?: Error): void {
    if (this.disposed) return;
    const ex = this.exchange;
    if (ex !== null && ex.phase === PHASE_HEAD && !ex.receivedBytes && ex.reusedSocket && ex.canRetry) {
      // A keep-alive socket the upstream closed just as we picked it (RFC 9112 §9.3.1 allows the replay).
      this.disposed = true;
      this.exchange = null;
      this.releaseWriter();
      this.owner.retry(this, ex);
      return;
    }
    this.dispose();
    if (ex === null) return;
    if (ex.phase === PHASE_BODY && this.decoder.mode === BODY_UNTIL_CLOSE && error === undefined) {
      ex.finish();
      return;
    }
    const stage = ex.phase === PHASE_BODY ? "in the middle of the response body" : "before the response head";
    ex.fail(resetError(this.owner.label, stage, error));
  }

  /** Bun reports a failure on an open socket (a handler threw, or the socket broke). */
  onError(error: Error): void {
    const ex = this.exchange;
    this.destroy();
    ex?.fail(resetError(this.owner.label, "after a socket error", error));
  }

  /** Abrupt close (RST): for aborted or broken exchanges, whose leftovers must never reach another request. */
  destroy(): void {
    if (this.disposed) return;
    this.dispose();
    this.socket?.terminate();
  }

  /** Orderly close (FIN) after a complete exchange the socket cannot outlive. */
  close(): void {
    if (this.disposed) return;
    this.dispose();
    this.socket?.end();
  }

  private dispose(): void {
    this.disposed = true;
    this.exchange = null;
    this.releaseWriter();
    this.owner.closed(this);
  }

  private releaseWriter(): void {
    this.pendingWrite = null;
    this.wakeWriter();
  }

  private wakeWriter(): void {
    const waiter = this.drainWaiter;
    this.drainWaiter = null;
    waiter?.();
  }

  /** Consumes response heads (skipping 1xx); returns where the body starts, or -1 until the final head is in. */
  private readHeads(ex: Exchange, buf: Buffer): number {
    let offset = 0;
    for (;;) {
      offset = this.heads.read(buf, offset);
      if (offset < 0) return -1;
      const status = this.heads.head.status;
      if (status >= 200) break;
      // 1xx responses are interim (RFC 9110 §15.2), except 101, which would hand the socket to another protocol.
      if (status === 101) throw protocolError("101 Switching Protocols on a pooled request");
    }
    this.beginBody(ex);
    return offset;
  }

  /** Chooses the body framing (RFC 9112 §6.3); onData delivers the response once this read is decoded. */
  private beginBody(ex: Exchange): void {
    const head = this.heads.head;
    const status = head.status;
    let mode: BodyMode;
    if (ex.isHeadRequest || status === 204 || status === 304) {
      mode = BODY_NONE;
    } else if (head.hasTransferEncoding) {
      // ¶4: a final coding other than chunked means read-until-close of still-encoded bytes; refuse instead.
      if (!head.chunked) throw protocolError("Transfer-Encoding whose final coding is not chunked");
      mode = BODY_CHUNKED;
      // ¶3: Transfer-Encoding overrides Content-Length, which must not be forwarded.
      if (head.contentLength !== NO_CONTENT_LENGTH) head.headers.delete("content-length");
    } else {
      mode = head.contentLength === NO_CONTENT_LENGTH ? BODY_UNTIL_CLOSE : BODY_LENGTH;
    }
    const smuggling = head.hasTransferEncoding && head.contentLength !== NO_CONTENT_LENGTH;
    this.keepAlive = head.persistent && mode !== BODY_UNTIL_CLOSE && !smuggling;
    this.decoder.reset(mode, head.contentLength);
    // 205 has no content by definition (RFC 9110 §15.3.6); its framing is still consumed, the bytes dropped.
    const empty = mode === BODY_NONE || status === 205 || (mode === BODY_LENGTH && head.contentLength === 0);
    ex.expectBody(!empty);
  }

  private complete(ex: Exchange, extraBytes: boolean): void {
    this.exchange = null;
    ex.finish();
    // The consumer may have cancelled the body during this read, which already destroyed the socket.
    if (this.disposed) return;
    // Unread request body or unexpected trailing bytes would corrupt the next exchange on this socket.
    if (!this.keepAlive || !ex.bodySent || extraBytes) {
      this.close();
      return;
    }
    this.resumeReading();
    this.owner.release(this);
  }
}
