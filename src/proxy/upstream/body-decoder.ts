/**
 * Response body framing (RFC 9112 §6.3): none, Content-Length, chunked (§7.1), or read-until-close.
 * Body bytes are handed on as views into the socket's buffers (Bun gives every `data` callback a fresh one),
 * so nothing is copied; only the chunked framing bytes are walked one at a time.
 */
import { protocolError } from "./errors.ts";

export const BODY_NONE = 0;
export const BODY_LENGTH = 1;
export const BODY_CHUNKED = 2;
export const BODY_UNTIL_CLOSE = 3;
export type BodyMode = typeof BODY_NONE | typeof BODY_LENGTH | typeof BODY_CHUNKED | typeof BODY_UNTIL_CLOSE;

export interface BodySink {
  onBodyPiece(piece: Uint8Array): void;
}

export const BODY_INCOMPLETE = -1;

const LF = 10;
const CR = 13;
const SP = 32;
const HTAB = 9;
const SEMICOLON = 59;
/** 12 hex digits = 256 TiB: far beyond any real chunk, and still exact in a JS number. */
const MAX_CHUNK_SIZE_DIGITS = 12;

// Chunked decoder states, named after the RFC 9112 §7.1 grammar element being read.
const CH_SIZE_START = 0;
const CH_SIZE = 1;
const CH_EXT = 2;
const CH_SIZE_LF = 3;
const CH_DATA = 4;
const CH_DATA_CR = 5;
const CH_DATA_LF = 6;
const CH_TRAILER_START = 7;
const CH_TRAILER_LINE = 8;
const CH_END_LF = 9;
const CH_DONE = 10;

function hexValue(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  if (byte >= 97 && byte <= 102) return byte - 87;
  if (byte >= 65 && byte <= 70) return byte - 55;
  return -1;
}

export class BodyDecoder {
  mode: BodyMode = BODY_NONE;
  /** Bytes left in the Content-Length body or in the current chunk. */
  private remaining = 0;
  private state = CH_SIZE_START;
  private digits = 0;

  reset(mode: BodyMode, contentLength: number): void {
    this.mode = mode;
    this.remaining = mode === BODY_LENGTH ? contentLength : 0;
    this.state = CH_SIZE_START;
    this.digits = 0;
  }

  /**
   * Feeds buf[start, end). Returns the index just past the body's last byte once the body is complete,
   * or BODY_INCOMPLETE. Throws UpstreamError("protocol") on bad chunk framing.
   */
  push(buf: Uint8Array, start: number, end: number, sink: BodySink): number {
    switch (this.mode) {
      case BODY_NONE:
        return start;
      case BODY_LENGTH: {
        const take = Math.min(this.remaining, end - start);
        if (take > 0) sink.onBodyPiece(buf.subarray(start, start + take));
        this.remaining -= take;
        return this.remaining === 0 ? start + take : BODY_INCOMPLETE;
      }
      case BODY_UNTIL_CLOSE:
        if (end > start) sink.onBodyPiece(buf.subarray(start, end));
        return BODY_INCOMPLETE;
      default:
        return this.pushChunked(buf, start, end, sink);
    }
  }

  private pushChunked(buf: Uint8Array, start: number, end: number, sink: BodySink): number {
    let i = start;
    while (i < end) {
      if (this.state === CH_DATA) {
        const take = Math.min(this.remaining, end - i);
        sink.onBodyPiece(buf.subarray(i, i + take));
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = CH_DATA_CR;
        continue;
      }
      this.step(buf[i++]!);
      if (this.state === CH_DONE) return i;
    }
    return BODY_INCOMPLETE;
  }

  /** One framing byte: chunk-size, chunk-ext, the CRLFs, and the trailer section (skipped, never forwarded). */
  private step(byte: number): void {
    switch (this.state) {
      case CH_SIZE_START:
      case CH_SIZE: {
        const value = hexValue(byte);
        if (value >= 0) {
          if (++this.digits > MAX_CHUNK_SIZE_DIGITS) throw protocolError("chunk size too large");
          this.remaining = this.remaining * 16 + value;
          this.state = CH_SIZE;
        } else if (this.state === CH_SIZE_START) {
          throw protocolError("missing chunk size");
        } else if (byte === SEMICOLON || byte === SP || byte === HTAB) {
          this.state = CH_EXT;
        } else if (byte === CR) {
          this.state = CH_SIZE_LF;
        } else if (byte === LF) {
          this.endSizeLine();
        } else {
          throw protocolError("bad chunk size");
        }
        return;
      }
      case CH_EXT:
        // chunk-ext carries nothing we act on; a recipient must ignore unknown extensions (RFC 9112 §7.1.1).
        if (byte === LF) this.endSizeLine();
        return;
      case CH_SIZE_LF:
        if (byte !== LF) throw protocolError("bad chunk size line ending");
        this.endSizeLine();
        return;
      case CH_DATA_CR:
        if (byte === CR) this.state = CH_DATA_LF;
        else if (byte === LF) this.startChunk();
        else throw protocolError("chunk data longer than its size");
        return;
      case CH_DATA_LF:
        if (byte !== LF) throw protocolError("bad chunk data line ending");
        this.startChunk();
        return;
      default:
        this.stepTrailer(byte);
    }
  }

  private stepTrailer(byte: number): void {
    switch (this.state) {
      case CH_TRAILER_START:
        if (byte === CR) this.state = CH_END_LF;
        else if (byte === LF) this.state = CH_DONE;
        else this.state = CH_TRAILER_LINE;
        return;
      case CH_TRAILER_LINE:
        if (byte === LF) this.state = CH_TRAILER_START;
        return;
      case CH_END_LF:
        if (byte !== LF) throw protocolError("bad end of chunked body");
        this.state = CH_DONE;
        return;
      default:
        throw protocolError("bytes after the end of a chunked body");
    }
  }

  private startChunk(): void {
    this.state = CH_SIZE_START;
    this.digits = 0;
    this.remaining = 0;
  }

  private endSizeLine(): void {
    this.state = this.remaining === 0 ? CH_TRAILER_START : CH_DATA;
  }
}
