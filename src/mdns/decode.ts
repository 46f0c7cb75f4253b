/**
 * Decoding DNS messages (RFC 1035 §4.1) as they arrive from the network, where anything may be malformed: every
 * read is bounds-checked and a RangeError rejects the whole packet. Compression pointers are followed only
 * backwards, which also rules out loops. The mDNS meaning of the class top bit (QU / cache-flush) is kept.
 */
import { formatIPv6 } from "./ip.ts";
import { joinLabels } from "./names.ts";
import { type DnsMessage, type DnsRecord, type Question, type RecordData, TYPE } from "./wire.ts";

const HEADER_BYTES = 12;
const CLASS_TOP_BIT = 0x8000;
const POINTER_TAG = 0xc0;
const MAX_POINTER_OFFSET = 0x3fff;
/** RFC 1035 §2.3.4: 255 bytes on the wire. */
const MAX_NAME_BYTES = 255;

/** Decodes one message; throws RangeError on anything malformed (the caller drops the packet). */
export function decodeMessage(packet: Uint8Array): DnsMessage {
  const reader = new Reader(packet);
  if (packet.length < HEADER_BYTES) throw new RangeError("DNS message shorter than its header");
  const [id, flags, qd, an, ns, ar] = [0, 2, 4, 6, 8, 10].map((at) => reader.u16(at)) as number[];
  let offset = HEADER_BYTES;
  const questions: Question[] = [];
  for (let i = 0; i < qd!; i++) {
    const { name, next } = reader.name(offset);
    const klass = reader.u16(next + 2);
    questions.push({ name, type: reader.u16(next), unicastResponse: (klass & CLASS_TOP_BIT) !== 0 });
    offset = next + 4;
  }
  const sections: DnsRecord[][] = [];
  for (const count of [an!, ns!, ar!]) {
    const records: DnsRecord[] = [];
    for (let i = 0; i < count; i++) {
      const { record, next } = readRecord(reader, offset);
      records.push(record);
      offset = next;
    }
    sections.push(records);
  }
  const [answers = [], authorities = [], additionals = []] = sections;
  return { id: id!, flags: flags!, questions, answers, authorities, additionals };
}

function readRecord(reader: Reader, offset: number): { record: DnsRecord; next: number } {
  const { name, next } = reader.name(offset);
  const type = reader.u16(next);
  const klass = reader.u16(next + 2);
  const ttl = reader.u16(next + 4) * 0x10000 + reader.u16(next + 6);
  const length = reader.u16(next + 8);
  const start = next + 10;
  const end = start + length;
  if (end > reader.bytes.length) throw new RangeError("record data runs past the end of the message");
  const data = readRdata(reader, type, start, end);
  return { record: { ...data, name, ttl, cacheFlush: (klass & CLASS_TOP_BIT) !== 0 }, next: end };
}

function readRdata(reader: Reader, type: number, start: number, end: number): RecordData {
  const bytes = reader.bytes.subarray(start, end);
  if (type === TYPE.A && bytes.length === 4) return { type: "A", address: [...bytes].join(".") };
  if (type === TYPE.AAAA && bytes.length === 16) return { type: "AAAA", address: formatIPv6(bytes) };
  if (type === TYPE.PTR) return { type: "PTR", target: reader.nameWithin(start, end) };
  if (type === TYPE.SRV && bytes.length >= 7) {
    const [priority, weight, port] = [0, 2, 4].map((at) => reader.u16(start + at)) as [number, number, number];
    return { type: "SRV", priority, weight, port, target: reader.nameWithin(start + 6, end) };
  }
  if (type === TYPE.TXT) return { type: "TXT", entries: readTxt(bytes) };
  if (type === TYPE.NSEC) {
    const { name, next } = reader.name(start);
    return { type: "NSEC", next: name, types: readBitmap(reader.bytes.subarray(next, end)) };
  }
  return { type: "OTHER", code: type, rdata: bytes.slice() };
}

function readTxt(bytes: Uint8Array): string[] {
  const entries: string[] = [];
  for (let at = 0; at < bytes.length; at += bytes[at]! + 1) {
    const end = at + 1 + bytes[at]!;
    if (end > bytes.length) throw new RangeError("TXT string runs past its record");
    entries.push(new TextDecoder().decode(bytes.subarray(at + 1, end)));
  }
  // The one empty string of an empty TXT record (RFC 6763 §6.1) means "no entries".
  return entries.length === 1 && entries[0] === "" ? [] : entries;
}

function readBitmap(bytes: Uint8Array): number[] {
  const types: number[] = [];
  for (let at = 0; at + 2 <= bytes.length; ) {
    const [window, length] = [bytes[at]!, bytes[at + 1]!];
    if (at + 2 + length > bytes.length) throw new RangeError("NSEC bit map runs past its record");
    for (let i = 0; i < length * 8; i++)
      if (bytes[at + 2 + (i >> 3)]! & (0x80 >> (i & 7))) types.push(window * 256 + i);
    at += 2 + length;
  }
  return types;
}

class Reader {
  constructor(readonly bytes: Uint8Array) {}

  u16(at: number): number {
    if (at + 2 > this.bytes.length) throw new RangeError("DNS message truncated");
    return (this.bytes[at]! << 8) | this.bytes[at + 1]!;
  }

  /**
   * A possibly compressed name at `offset`, and the offset just past it. A pointer must point strictly before
   * itself, which also rules out loops (RFC 1035 §4.1.4 only ever points back to earlier data).
   */
  name(offset: number): { name: string; next: number } {
    const labels: string[] = [];
    let [at, next, wireBytes] = [offset, -1, 1];
    for (;;) {
      if (at >= this.bytes.length) throw new RangeError("name runs past the end of the message");
      const length = this.bytes[at]!;
      if ((length & POINTER_TAG) === POINTER_TAG) {
        const target = this.u16(at) & MAX_POINTER_OFFSET;
        if (target >= at) throw new RangeError("compression pointer does not point backwards");
        if (next === -1) next = at + 2;
        at = target;
      } else if (length & POINTER_TAG) throw new RangeError("reserved label type");
      else if (length === 0) break;
      else {
        if (at + 1 + length > this.bytes.length) throw new RangeError("label runs past the end of the message");
        wireBytes += length + 1;
        if (wireBytes > MAX_NAME_BYTES) throw new RangeError("name longer than 255 bytes");
        labels.push(new TextDecoder().decode(this.bytes.subarray(at + 1, at + 1 + length)));
        at += length + 1;
      }
    }
    return { name: joinLabels(labels), next: next === -1 ? at + 1 : next };
  }

  /** A name that must end exactly at `end` (the rest of a PTR or SRV record). */
  nameWithin(start: number, end: number): string {
    const { name, next } = this.name(start);
    if (next !== end) throw new RangeError("record data length does not match its name");
    return name;
  }
}
