/**
 * Protocol Buffers wire format (https://protobuf.dev/programming-guides/encoding/), just what OTLP needs, written
 * into one growing, reused byte buffer. Nested messages are length-delimited: `begin` reserves room for the length
 * (one byte, or two for a span) and `end` fills it in, moving the body in the rare case the guess was wrong, so every
 * length is the canonical minimal varint and the body is written once.
 */

const INITIAL_BYTES = 256 * 1024;
const TWO_32 = 2 ** 32;
const utf8 = new TextEncoder();

/** Wire types. */
export const VARINT = 0;
const FIXED64 = 1;
const LENGTH = 2;

/** hex digit char code → value; 255 for anything else (ids are validated hex, so it never appears). */
const HEX = new Uint8Array(128).fill(255);
for (let i = 0; i < 16; i++) HEX["0123456789abcdef".charCodeAt(i)] = i;
for (let i = 10; i < 16; i++) HEX["ABCDEF".charCodeAt(i - 10)] = i;

export class ProtoWriter {
  private buffer = new Uint8Array(new ArrayBuffer(INITIAL_BYTES));
  private view = new DataView(this.buffer.buffer);
  /** Body start and reserved length bytes of each open message, innermost last. */
  private readonly open: number[] = [];
  at = 0;

  reset(): void {
    this.at = 0;
    this.open.length = 0;
  }

  /** The bytes written since the last reset; valid until the next reset. */
  bytes(): Uint8Array<ArrayBuffer> {
    return this.buffer.subarray(0, this.at);
  }

  tag(field: number, wireType: number): void {
    const key = field * 8 + wireType;
    if (key > 127) {
      this.varint(key);
      return;
    }
    // Every field number OTLP uses is below 16: one byte.
    this.reserve(1);
    this.buffer[this.at++] = key;
  }

  /** A non-negative integer below 2^53 (larger or negative values go through `int64`). */
  varint(value: number): void {
    this.reserve(8);
    const buffer = this.buffer;
    while (value > 127) {
      buffer[this.at++] = (value % 128) | 128;
      value = Math.floor(value / 128);
    }
    buffer[this.at++] = value;
  }

  /** int64 as protobuf encodes it: two's complement in ten bytes when negative. */
  int64(value: number): void {
    if (value >= 0 && value <= Number.MAX_SAFE_INTEGER) {
      this.varint(value);
      return;
    }
    let bits = BigInt.asUintN(64, BigInt(Math.trunc(value)));
    this.reserve(10);
    while (bits > 127n) {
      this.buffer[this.at++] = Number(bits & 127n) | 128;
      bits >>= 7n;
    }
    this.buffer[this.at++] = Number(bits);
  }

  /** A field holding a varint: tag and value. */
  uint(field: number, value: number): void {
    this.tag(field, VARINT);
    this.varint(value);
  }

  double(field: number, value: number): void {
    this.tag(field, FIXED64);
    this.reserve(8);
    this.view.setFloat64(this.at, value, true);
    this.at += 8;
  }

  /**
   * fixed64 nanoseconds since the epoch from milliseconds with a fraction, exact to the microsecond. Split in 32-bit
   * halves by float arithmetic that stays below 2^53 (BigInt costs more than the rest of a span's encoding).
   */
  unixNano(field: number, ms: number): void {
    this.tag(field, FIXED64);
    let whole = Math.floor(ms);
    let micros = Math.round((ms - whole) * 1000);
    if (micros === 1000) [whole, micros] = [whole + 1, 0];
    // nanos = whole * 1e6 + micros * 1e3, with whole = high * 2^20 + low; 1e6 = 2^6 * 15625.
    const high = Math.floor(whole / 2 ** 20);
    const low = whole - high * 2 ** 20;
    // high * 15625 * 2^26 splits at 2^32 as (high * 15625) * 2^26: its low 6 bits shifted up, the rest carried over.
    const scaled = high * 15625;
    const scaledHigh = Math.floor(scaled / 64);
    const rest = (scaled - scaledHigh * 64) * 2 ** 26 + low * 1e6 + micros * 1000;
    const restHigh = Math.floor(rest / TWO_32);
    this.reserve(8);
    this.view.setUint32(this.at, rest - restHigh * TWO_32, true);
    this.view.setUint32(this.at + 4, scaledHigh + restHigh, true);
    this.at += 8;
  }

  /** A string field: ASCII byte by byte, anything else through TextEncoder. */
  string(field: number, value: string): void {
    this.tag(field, LENGTH);
    const length = value.length;
    this.reserve(length + 5);
    const start = this.at;
    this.varint(length);
    const buffer = this.buffer;
    let at = this.at;
    for (let i = 0; i < length; i++) {
      const code = value.charCodeAt(i);
      if (code > 127) {
        this.utf8String(start, value);
        return;
      }
      buffer[at++] = code;
    }
    this.at = at;
  }

  private utf8String(start: number, value: string): void {
    this.at = start;
    const bytes = utf8.encode(value);
    this.varint(bytes.length);
    this.raw(bytes);
  }

  /** A bytes field of `length` bytes from the hex digits of `hex` starting at `from`: trace and span ids. */
  hexBytes(field: number, hex: string, from: number, length: number): void {
    this.tag(field, LENGTH);
    this.varint(length);
    this.reserve(length);
    const buffer = this.buffer;
    let at = this.at;
    const end = from + 2 * length;
    for (let i = from; i < end; i += 2) {
      buffer[at++] = ((HEX[hex.charCodeAt(i)] as number) << 4) | (HEX[hex.charCodeAt(i + 1)] as number);
    }
    this.at = at;
  }

  /** Bytes already encoded (a pre-built field or message). */
  raw(bytes: Uint8Array): void {
    const length = bytes.length;
    this.reserve(length);
    // A short copy in JS beats the native call that set() is.
    if (length > 64) this.buffer.set(bytes, this.at);
    else for (let i = 0; i < length; i++) this.buffer[this.at + i] = bytes[i] as number;
    this.at += length;
  }

  /**
   * Opens an embedded message in `field`; close it with end(). `lengthBytes` is the room left for its length: 1 fits
   * up to 127 bytes, 2 up to 16383 (a span); a wrong guess costs one move of the body, never a wrong encoding.
   */
  begin(field: number, lengthBytes = 1): void {
    this.tag(field, LENGTH);
    this.reserve(lengthBytes);
    this.at += lengthBytes;
    this.open.push(this.at, lengthBytes);
  }

  end(): void {
    const reserved = this.open.pop() as number;
    const start = this.open.pop() as number;
    const length = this.at - start;
    let needed = 1;
    for (let rest = length >>> 7; rest > 0; rest >>>= 7) needed++;
    let body = start;
    if (needed !== reserved) {
      body = start + needed - reserved;
      this.reserve(needed - reserved);
      this.buffer.copyWithin(body, start, this.at);
    }
    const buffer = this.buffer;
    let at = body - needed;
    let rest = length;
    while (rest > 127) {
      buffer[at++] = (rest & 127) | 128;
      rest >>>= 7;
    }
    buffer[at] = rest;
    this.at = body + length;
  }

  private reserve(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    const grown = new Uint8Array(new ArrayBuffer(Math.max(this.buffer.length * 2, this.at + bytes)));
    grown.set(this.buffer.subarray(0, this.at));
    this.buffer = grown;
    this.view = new DataView(grown.buffer);
  }
}

/** Bytes of a message built once (constant attributes, the resource): `build` writes it into a fresh writer. */
export function prebuilt(build: (writer: ProtoWriter) => void): Uint8Array {
  const writer = new ProtoWriter();
  build(writer);
  return writer.bytes().slice();
}
