/**
 * The DNS message format (RFC 1035 §4.1) with the two mDNS meanings of the class field's top bit: QU in questions
 * (RFC 6762 §5.4, §18.12) and cache-flush in records (§10.2, §18.13). Only the types mDNS and DNS-SD use here are
 * decoded (A, AAAA, PTR, SRV, TXT, NSEC); the rest are kept as raw bytes.
 *
 * Why our own codec rather than dns-packet (which `mdns-server` and `multicast-dns` use): dns-packet 5.6 never
 * reports the QU bit (it tests the bit on the class *name*), cannot encode a label containing a dot (DNS-SD instance
 * names may, RFC 6763 §4.3), and does not compress names. What we need fits in this file.
 *
 * Encoding is here; decoding untrusted packets is decode.ts.
 *
 * Names are presentation strings: labels joined by ".", with "\." and "\\" escaping a dot or backslash inside one.
 */
import { parseIPv4, parseIPv6 } from "./ip.ts";
import { asciiLower, joinLabels, splitLabels } from "./names.ts";

export const TYPE = { A: 1, PTR: 12, TXT: 16, AAAA: 28, SRV: 33, NSEC: 47, ANY: 255 } as const;
export const CLASS_IN = 1;
/** QU in a question (§18.12), cache-flush in a record (§18.13). */
const CLASS_TOP_BIT = 0x8000;
export const FLAG_RESPONSE = 0x8000;
export const FLAG_AUTHORITATIVE = 0x0400;
const POINTER_TAG = 0xc0;
const MAX_LABEL_BYTES = 63;
/** Offsets above this cannot be the target of a 14-bit compression pointer. */
const MAX_POINTER_OFFSET = 0x3fff;

export type RecordData =
  | { type: "A"; address: string }
  | { type: "AAAA"; address: string }
  | { type: "PTR"; target: string }
  | { type: "SRV"; priority: number; weight: number; port: number; target: string }
  | { type: "TXT"; entries: string[] }
  | { type: "NSEC"; next: string; types: number[] }
  | { type: "OTHER"; code: number; rdata: Uint8Array };

export type DnsRecord = RecordData & { name: string; ttl: number; cacheFlush: boolean };

export interface Question {
  name: string;
  /** Numeric type (TYPE.A, TYPE.ANY, …). */
  type: number;
  /** The QU bit: the asker prefers a unicast answer (RFC 6762 §5.4). */
  unicastResponse: boolean;
}

export interface DnsMessage {
  id: number;
  flags: number;
  questions: Question[];
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

export function typeCode(record: RecordData): number {
  return record.type === "OTHER" ? record.code : TYPE[record.type];
}

export function isResponse(message: DnsMessage): boolean {
  return (message.flags & FLAG_RESPONSE) !== 0;
}

const UTF8 = new TextEncoder();

class Writer {
  private bytes: number[] = [];
  /** Lowercased suffix of a name → its offset, for compression (RFC 1035 §4.1.4). */
  private readonly suffixes = new Map<string, number>();

  get length(): number {
    return this.bytes.length;
  }
  u8(value: number): void {
    this.bytes.push(value & 0xff);
  }
  u16(value: number): void {
    this.bytes.push((value >> 8) & 0xff, value & 0xff);
  }
  u32(value: number): void {
    this.u16(Math.floor(value / 0x10000));
    this.u16(value % 0x10000);
  }
  raw(data: ArrayLike<number>): void {
    for (let i = 0; i < data.length; i++) this.bytes.push(data[i]!);
  }
  patch16(offset: number, value: number): void {
    this.bytes[offset] = (value >> 8) & 0xff;
    this.bytes[offset + 1] = value & 0xff;
  }
  name(name: string, compress = true): void {
    const texts = splitLabels(name);
    const folded = texts.map(asciiLower);
    for (let i = 0; i < texts.length; i++) {
      // Escaped and joined, a label sequence is one unambiguous string: the key of this suffix.
      const key = joinLabels(folded.slice(i));
      const earlier = this.suffixes.get(key);
      if (compress && earlier !== undefined) {
        this.u16((POINTER_TAG << 8) | earlier);
        return;
      }
      if (this.length <= MAX_POINTER_OFFSET) this.suffixes.set(key, this.length);
      const label = UTF8.encode(texts[i]);
      if (label.length === 0 || label.length > MAX_LABEL_BYTES) throw new RangeError(`bad DNS label in ${name}`);
      this.u8(label.length);
      this.raw(label);
    }
    this.u8(0);
  }
  done(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

export function encodeMessage(message: DnsMessage): Uint8Array {
  const out = new Writer();
  out.u16(message.id);
  out.u16(message.flags);
  for (const count of [message.questions, message.answers, message.authorities, message.additionals])
    out.u16(count.length);
  for (const question of message.questions) {
    out.name(question.name);
    out.u16(question.type);
    out.u16(CLASS_IN | (question.unicastResponse ? CLASS_TOP_BIT : 0));
  }
  for (const record of [...message.answers, ...message.authorities, ...message.additionals]) writeRecord(out, record);
  return out.done();
}

function writeRecord(out: Writer, record: DnsRecord): void {
  out.name(record.name);
  out.u16(typeCode(record));
  out.u16(CLASS_IN | (record.cacheFlush ? CLASS_TOP_BIT : 0));
  out.u32(record.ttl);
  const lengthAt = out.length;
  out.u16(0);
  writeRdata(out, record);
  out.patch16(lengthAt, out.length - lengthAt - 2);
}

function writeRdata(out: Writer, record: RecordData): void {
  if (record.type === "A") out.raw(addressOrThrow(parseIPv4(record.address), record.address));
  else if (record.type === "AAAA") out.raw(addressOrThrow(parseIPv6(record.address), record.address));
  else if (record.type === "PTR") out.name(record.target);
  else if (record.type === "SRV") {
    out.u16(record.priority);
    out.u16(record.weight);
    out.u16(record.port);
    // RFC 2782 forbids compressing the target; RFC 6762 §18.14 allows it, but not every decoder knows that.
    out.name(record.target, false);
  } else if (record.type === "TXT") writeTxt(out, record.entries);
  else if (record.type === "NSEC") {
    // RFC 6762 §6.1: the restricted form, one window of types below 256; the next name is never compressed.
    out.name(record.next, false);
    out.raw(typeBitmap(record.types));
  } else out.raw(record.rdata);
}

function addressOrThrow(bytes: number[] | undefined, text: string): number[] {
  if (!bytes) throw new RangeError(`not an IP address: ${text}`);
  return bytes;
}

/** RFC 6763 §6.1: an empty TXT record is one zero-length string, never zero bytes of rdata. */
function writeTxt(out: Writer, entries: string[]): void {
  const strings = entries.length === 0 ? [""] : entries;
  for (const entry of strings) {
    const bytes = UTF8.encode(entry);
    if (bytes.length > 255) throw new RangeError(`TXT entry longer than 255 bytes: ${entry.slice(0, 20)}…`);
    out.u8(bytes.length);
    out.raw(bytes);
  }
}

/** RFC 4034 §4.1.2 type bit map, window 0 only (every type we assert is below 256). */
export function typeBitmap(types: readonly number[]): number[] {
  const low = types.filter((type) => type > 0 && type < 256);
  if (low.length === 0) return [0, 0];
  const length = Math.floor(Math.max(...low) / 8) + 1;
  const bits = Array<number>(length).fill(0);
  for (const type of low) bits[type >> 3]! |= 0x80 >> (type & 7);
  return [0, length, ...bits];
}

/** The record's rdata on the wire, uncompressed: what RFC 6762 §8.2 compares and what identifies a record. */
export function encodeRdata(record: RecordData): Uint8Array {
  const out = new Writer();
  writeRdata(out, record);
  return out.done();
}

/** Identity of a record for de-duplication and known-answer matching: name (case-folded), type and rdata. */
export function recordKey(record: DnsRecord): string {
  // Names inside rdata compare case-insensitively too (RFC 6762 §16).
  const folded =
    record.type === "PTR" || record.type === "SRV" ? { ...record, target: asciiLower(record.target) } : record;
  const rdata = Buffer.from(encodeRdata(folded)).toString("hex");
  return `${asciiLower(joinLabels(splitLabels(record.name)))}/${typeCode(record)}/${rdata}`;
}
