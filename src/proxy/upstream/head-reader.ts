/**
 * Collects one response head from socket reads. The common case (the whole head in one read) is parsed in place
 * with no copy; a head split across reads is stashed in a growing buffer, capped at MAX_RESPONSE_HEAD_BYTES.
 */
import { protocolError } from "./errors.ts";
import { MAX_RESPONSE_HEAD_BYTES, parseHead, ResponseHead, scanHead } from "./parser.ts";

const STASH_INITIAL_BYTES = 4096;

export class HeadReader {
  /** The last head parsed; reused for every response on the connection. */
  readonly head = new ResponseHead();
  private stash: Buffer | null = null;
  private stashLength = 0;

  reset(): void {
    this.stash = null;
    this.stashLength = 0;
  }

  /** Reads a head starting at buf[offset]: returns the index just past it in buf, or -1 (bytes kept for later). */
  read(buf: Buffer, offset: number): number {
    const head = this.head;
    if (this.stashLength === 0) {
      head.beginScan(offset);
      const end = scanHead(buf, buf.length, head);
      if (end >= 0) {
        parseHead(buf, offset, head);
        return end;
      }
      // Split head (rare): keep its bytes and rescan them from the stash, where positions are stash-relative.
      head.beginScan(0);
    }
    const previous = this.stashLength;
    this.append(buf, offset);
    const stash = this.stash!;
    const end = scanHead(stash, this.stashLength, head);
    if (end < 0) {
      if (this.stashLength >= MAX_RESPONSE_HEAD_BYTES) throw protocolError("response head larger than 64 KiB");
      return -1;
    }
    parseHead(stash, 0, head);
    this.reset();
    return offset + (end - previous);
  }

  private append(buf: Buffer, offset: number): void {
    const used = this.stashLength;
    const needed = used + buf.length - offset;
    let stash = this.stash;
    if (stash === null || stash.length < needed) {
      const size = Math.min(MAX_RESPONSE_HEAD_BYTES, Math.max(needed, STASH_INITIAL_BYTES, 2 * used));
      const grown = Buffer.allocUnsafe(size);
      if (stash !== null) stash.copy(grown, 0, 0, used);
      stash = grown;
      this.stash = grown;
    }
    this.stashLength += buf.copy(stash, used, offset, Math.min(buf.length, offset + stash.length - used));
  }
}
