/**
 * One request/response exchange. It is also the response body's source and the abort listener (handleEvent),
 * so a request allocates no closures beyond its promise.
 *
 * A streamed body is a Bun "direct" ReadableStream: no JS-side queue; the consumer (Bun.serve writing to the
 * client, or a reader) takes our writes as socket reads arrive, and `write()` returns a promise while the consumer
 * is backed up, which is when we pause the socket. That matches an event-driven producer better than pull().
 */
import type { DirectUnderlyingSource } from "bun";
import type { BodySink } from "./body-decoder.ts";
import type { Connection } from "./connection.ts";
import { protocolError } from "./errors.ts";
import type { ResponseHead } from "./parser.ts";
import { discardBody, type StreamingBody } from "./request-body.ts";
import { isIdempotent } from "./serialize.ts";
import type { UpstreamRequest } from "./types.ts";

export const PHASE_QUEUED = 0;
export const PHASE_CONNECTING = 1;
/** Request written (or being written), waiting for the final response head. */
export const PHASE_HEAD = 2;
/** Response resolved, body being received. */
export const PHASE_BODY = 3;
export const PHASE_DONE = 4;

const NO_BODY = { inHead: false, stream: null };

/**
 * Body bytes that may wait for the consumer's first pull before we pause the socket. A body that arrives with
 * its head (the common case: small responses) fits and never pauses; pausing and resuming cost a syscall each.
 */
const UNPULLED_BODY_MAX_BYTES = 64 * 1024;

/** What an exchange needs from its origin; implemented by Origin. */
export interface ExchangeOwner {
  readonly label: string;
  forgetQueued(): void;
  /** An exchange that held an upload slot (origin.ts) no longer streams a body from its client. */
  uploadEnded(): void;
}

export class Exchange implements DirectUnderlyingSource<Uint8Array>, EventListenerObject, BodySink {
  readonly req: UpstreamRequest;
  readonly owner: ExchangeOwner;
  /** The serialized request head (with the whole body after it when `bodyInHead`), kept for a retry. */
  readonly head: string | Buffer;
  readonly bodyInHead: boolean;
  /** A body still coming from the client (pumped by body-writer.ts), or null. */
  readonly stream: StreamingBody | null;
  /** Counted against the origin's uploads (origin.ts) until the streamed body is sent or the exchange ends. */
  holdsUploadSlot = false;
  readonly isHeadRequest: boolean;
  readonly promise: Promise<Response>;
  phase = PHASE_QUEUED;
  conn: Connection | null = null;
  /** The socket came from the idle list: a close before any response byte may just be a stale keep-alive. */
  reusedSocket = false;
  retried = false;
  receivedBytes = false;
  /** A streamed body chunk was written toward a socket: replaying is no longer possible. */
  bodyPulled = false;
  bodySent: boolean;
  pumping = false;
  /** The unsent rest of the request body being read and dropped after the exchange ended (detach). */
  private discarding: Promise<boolean> | undefined = undefined;
  private hasBody = false;
  /** The body is exposed as a stream (rather than as bytes that arrived whole). */
  private streaming = false;
  readonly type = "direct";
  private controller: ReadableStreamDirectController | null = null;
  /** Body pieces received before the consumer's first pull. */
  private unpulled: Uint8Array[] | null = null;
  private unpulledBytes = 0;
  /** Set when the body ended (true) or failed (the reason) before the first pull. */
  private endedBeforePull: true | Error | null = null;
  private backedUp = false;
  /** Created on the first backpressure only, so a request that never backs up allocates no closure for it. */
  private onDrained: (() => void) | null = null;
  private attachedWaiter: (() => void) | null = null;
  /** req.onResponseEnd was called. */
  private responseEnded = false;
  private resolveResponse!: (response: Response) => void;
  private rejectResponse!: (reason: unknown) => void;

  constructor(
    owner: ExchangeOwner,
    req: UpstreamRequest,
    head: string | Buffer,
    body: { inHead: boolean; stream: StreamingBody | null } = NO_BODY,
  ) {
    this.owner = owner;
    this.req = req;
    this.head = head;
    this.bodyInHead = body.inHead;
    this.stream = body.stream;
    this.isHeadRequest = req.method === "HEAD";
    this.bodySent = !this.hasRequestBody;
    this.promise = new Promise<Response>((resolve, reject) => {
      this.resolveResponse = resolve;
      this.rejectResponse = reject;
    });
    req.signal?.addEventListener("abort", this);
  }

  get hasRequestBody(): boolean {
    return this.bodyInHead || this.stream !== null;
  }

  /**
   * Only a request we can replay byte for byte may go to a second socket, and one with a body only when its method
   * is idempotent (RFC 9112 §9.3.1.1): a whole body in the head always can be replayed, a streamed one until a chunk
   * of it was written.
   */
  get canRetry(): boolean {
    if (this.retried) return false;
    if (!this.hasRequestBody) return true;
    return isIdempotent(this.req.method) && (this.stream === null || !this.bodyPulled);
  }

  /** Gives back the upload slot, once. */
  releaseUploadSlot(): void {
    if (!this.holdsUploadSlot) return;
    this.holdsUploadSlot = false;
    this.owner.uploadEnded();
  }

  /** Tells the caller the response is over (req.onResponseEnd), once. */
  private endResponse(): void {
    if (this.responseEnded) return;
    this.responseEnded = true;
    this.req.onResponseEnd?.();
  }

  /** The final head was parsed: body pieces decoded from here on are collected until deliver(). */
  expectBody(hasBody: boolean): void {
    this.hasBody = hasBody;
  }

  /**
   * Resolves the caller's promise. A body that already arrived whole (with the head, the common case for small
   * responses) becomes a plain byte body, which Bun consumes in one go: about 2 µs of CPU less per response than
   * draining a stream, measured on Bun 1.4.5. Otherwise the body streams. The byte shortcut needs a Content-Type from upstream: for a byte body
   * without one, Bun.serve would add `application/octet-stream` and change how browsers sniff the content.
   */
  deliver(head: ResponseHead, complete: boolean): void {
    let body: Uint8Array | ReadableStream<Uint8Array> | null = null;
    if (this.hasBody) {
      if (complete && head.hasContentType) body = this.takeUnpulled();
      else {
        body = new ReadableStream<Uint8Array>(this);
        this.streaming = true;
      }
    }
    let response: Response;
    try {
      response = new Response(body, { status: head.status, statusText: head.statusText, headers: head.headers });
    } catch (cause) {
      throw protocolError(`status ${head.status} cannot be forwarded`, cause);
    }
    this.phase = PHASE_BODY;
    if (!this.streaming) this.endResponse();
    this.resolveResponse(response);
  }

  private takeUnpulled(): Uint8Array {
    const pieces = this.unpulled;
    this.unpulled = null;
    if (pieces === null) return new Uint8Array(0);
    if (pieces.length === 1) return pieces[0]!;
    const joined = new Uint8Array(this.unpulledBytes);
    let offset = 0;
    for (const piece of pieces) {
      joined.set(piece, offset);
      offset += piece.byteLength;
    }
    return joined;
  }

  /** The consumer wants bytes. The first call hands us the controller; later ones (from a reader) are demand. */
  pull(controller: ReadableStreamDirectController): void {
    if (this.controller !== null) return;
    this.controller = controller;
    const pieces = this.unpulled;
    this.unpulled = null;
    if (pieces !== null) for (const piece of pieces) this.writeToConsumer(controller, piece);
    const ended = this.endedBeforePull;
    if (ended === true) controller.close();
    else if (ended !== null) controller.close(ended);
    else if (!this.backedUp) this.conn?.resumeReading();
  }

  /** The consumer gave up on the body: the exchange is unfinished, so its socket must not be reused. */
  cancel(): void {
    this.controller = null;
    this.unpulled = null;
    if (this.phase !== PHASE_BODY) return;
    this.phase = PHASE_DONE;
    this.endResponse();
    const conn = this.conn;
    this.detach();
    conn?.destroy();
  }

  onBodyPiece(piece: Uint8Array): void {
    if (!this.hasBody) return;
    const controller = this.controller;
    if (controller !== null) {
      this.writeToConsumer(controller, piece);
      return;
    }
    if (this.unpulled === null) this.unpulled = [piece];
    else this.unpulled.push(piece);
    this.unpulledBytes += piece.byteLength;
  }

  /** True when the consumer is not keeping up: stop reading the socket until it does (TCP does the rest). */
  get bodyBackedUp(): boolean {
    return this.backedUp || (this.controller === null && this.unpulledBytes >= UNPULLED_BODY_MAX_BYTES);
  }

  private writeToConsumer(controller: ReadableStreamDirectController, piece: Uint8Array): void {
    const accepted = controller.write(piece);
    if (typeof accepted === "number") {
      // 0 for a non-empty piece: the consumer went away (e.g. the browser disconnected).
      if (accepted === 0) this.cancel();
      return;
    }
    this.backedUp = true;
    if (this.onDrained === null) {
      this.onDrained = () => {
        this.backedUp = false;
        this.conn?.resumeReading();
      };
    }
    accepted.then(this.onDrained, this.onDrained);
  }

  /** The abort signal fired. A socket mid-exchange is destroyed, never pooled. */
  handleEvent(): void {
    if (this.phase === PHASE_DONE) return;
    if (this.phase === PHASE_QUEUED) this.owner.forgetQueued();
    if (this.phase >= PHASE_HEAD) this.conn?.destroy();
    this.fail(this.req.signal?.reason ?? new DOMException("The operation was aborted.", "AbortError"));
  }

  /** The response body ended cleanly. */
  finish(): void {
    if (this.phase === PHASE_DONE) return;
    this.phase = PHASE_DONE;
    this.detach();
    // Before the close: once the client has the last byte it may send its next request on this connection.
    this.endResponse();
    const controller = this.controller;
    this.controller = null;
    if (controller !== null) controller.close();
    else if (this.streaming) this.endedBeforePull = true;
  }

  /** Rejects the response promise, or errors the body stream if the head was already delivered. */
  fail(reason: unknown): void {
    const phase = this.phase;
    if (phase === PHASE_DONE) return;
    this.phase = PHASE_DONE;
    this.detach();
    if (phase !== PHASE_BODY) {
      // The client gets our answer (a 502) only once its body is read: over h2 it would otherwise be reset.
      const discarding = this.discarding;
      if (discarding === undefined) this.rejectResponse(reason);
      else discarding.then(() => this.rejectResponse(reason));
      return;
    }
    this.endResponse();
    const error = reason instanceof Error ? reason : new Error(String(reason));
    const controller = this.controller;
    this.controller = null;
    this.unpulled = null;
    if (controller !== null) controller.close(error);
    else if (this.streaming) this.endedBeforePull = error;
  }

  /** Called when a (retry) connection takes this exchange over. */
  attached(conn: Connection, reused: boolean): void {
    this.conn = conn;
    this.reusedSocket = reused;
    this.phase = PHASE_HEAD;
    const waiter = this.attachedWaiter;
    this.attachedWaiter = null;
    waiter?.();
  }

  /** Lets the request body pump wait while a retry connects. */
  waitAttached(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.attachedWaiter = resolve;
    });
  }

  private detach(): void {
    this.conn = null;
    this.req.signal?.removeEventListener("abort", this);
    const waiter = this.attachedWaiter;
    this.attachedWaiter = null;
    waiter?.();
    this.releaseUploadSlot();
    const reader = this.stream?.reader;
    if (reader !== undefined && !this.bodySent) {
      // The upload is no longer wanted (response done, failed or aborted): read the rest of the caller's stream and
      // drop it (request-body.ts says why), then release it. A pump waiting on read() gets a chunk or the end, finds
      // no connection and stops.
      this.discarding = this.req.signal?.aborted ? undefined : discardBody(reader);
      if (this.discarding === undefined) reader.cancel().catch(cancelOfErroredStream);
    }
  }
}

/**
 * cancel() rejects only when the caller's stream had already errored; that error already reached the body pump,
 * which failed the exchange with it. There is nothing left to report.
 */
function cancelOfErroredStream(_alreadyReported: unknown): void {}
