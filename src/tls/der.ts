/**
 * The few DER (ITU-T X.690) pieces gotunnel's certificates need, written by hand: type-length-value encoding,
 * reading it back, object identifiers, integers, times and PEM armour (RFC 7468). Nothing else in src/ parses or
 * builds ASN.1.
 *
 * Why not a library: @peculiar/x509 and its asn1 schemas cost the long-running daemon about 25 MiB of memory
 * (issue 18, measured on the compiled binary), for a leaf certificate whose structure is a dozen fixed fields.
 */

export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  t61String: 0x14,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  bmpString: 0x1e,
  sequence: 0x30,
  set: 0x31,
} as const;

/** [n] EXPLICIT (constructed) and [n] IMPLICIT primitive context tags. */
export const explicitTag = (n: number) => 0xa0 | n;
export const implicitTag = (n: number) => 0x80 | n;

export function concat(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** One TLV with a definite length in its shortest form (X.690 §10.1). */
export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const value = concat(content);
  const length = value.length;
  const lengthBytes: number[] = [];
  if (length < 0x80) lengthBytes.push(length);
  else {
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) lengthBytes.unshift(rest & 0xff);
    lengthBytes.unshift(0x80 | lengthBytes.length);
  }
  return concat([Uint8Array.of(tag, ...lengthBytes), value]);
}

export const sequence = (...items: Uint8Array[]) => tlv(TAG.sequence, ...items);

/** A non-negative INTEGER from big-endian bytes: leading zeros dropped, one added when the top bit is set (§8.3). */
export function unsignedInteger(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  const needsPad = ((trimmed[0] ?? 0) & 0x80) !== 0;
  return tlv(TAG.integer, needsPad ? concat([Uint8Array.of(0), trimmed]) : trimmed);
}

export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const [first = 0, second = 0, ...rest] = arcs;
  const bytes: number[] = [first * 40 + second];
  for (const arc of rest) {
    const groups: number[] = [arc & 0x7f];
    for (let value = Math.floor(arc / 128); value > 0; value = Math.floor(value / 128)) {
      groups.unshift((value & 0x7f) | 0x80);
    }
    bytes.push(...groups);
  }
  return tlv(TAG.oid, Uint8Array.from(bytes));
}

export function decodeOid(value: Uint8Array): string {
  const first = value[0] ?? 0;
  const arcs = [Math.min(2, Math.floor(first / 40)), first - Math.min(2, Math.floor(first / 40)) * 40];
  let arc = 0;
  for (const byte of value.subarray(1)) {
    arc = arc * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(arc);
      arc = 0;
    }
  }
  return arcs.join(".");
}

/**
 * RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, both in whole seconds with `Z`.
 */
export function time(date: Date): Uint8Array {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = date.getUTCFullYear();
  if (year >= 1950 && year < 2050) return tlv(TAG.utcTime, new TextEncoder().encode(digits.slice(2)));
  return tlv(TAG.generalizedTime, new TextEncoder().encode(digits));
}

export function decodeTime(item: Tlv): Date {
  const text = new TextDecoder().decode(item.value);
  const yearDigits = item.tag === TAG.utcTime ? 2 : 4;
  const match = new RegExp(`^(\\d{${yearDigits}})(\\d{2})(\\d{2})(\\d{2})(\\d{2})(\\d{2})?(?:\\.\\d+)?Z$`).exec(text);
  if (!match || (item.tag !== TAG.utcTime && item.tag !== TAG.generalizedTime)) throw new Error(`bad time ${text}`);
  const short = Number(match[1]);
  // RFC 5280 §4.1.2.5.1: a UTCTime year YY >= 50 is 19YY, below 50 is 20YY.
  const year = item.tag === TAG.utcTime ? (short >= 50 ? 1900 + short : 2000 + short) : short;
  const [month, day, hour, minute, second] = match.slice(2, 7).map((part) => Number(part ?? 0));
  return new Date(Date.UTC(year, (month ?? 1) - 1, day, hour, minute, second));
}

export interface Tlv {
  tag: number;
  /** The content octets. */
  value: Uint8Array;
  /** The whole encoding, tag and length included (e.g. a Name reused byte for byte). */
  raw: Uint8Array;
  end: number;
}

/** Lengths up to 4 octets: far beyond any certificate. */
const MAX_LENGTH_OCTETS = 4;

export function readTlv(bytes: Uint8Array, start = 0): Tlv {
  const tag = bytes[start];
  let length = bytes[start + 1];
  if (tag === undefined || length === undefined) throw new Error("truncated DER");
  let offset = start + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > MAX_LENGTH_OCTETS) throw new Error("unsupported DER length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (bytes[offset++] ?? 0);
  }
  if (offset + length > bytes.length) throw new Error("truncated DER");
  return {
    tag,
    value: bytes.subarray(offset, offset + length),
    raw: bytes.subarray(start, offset + length),
    end: offset + length,
  };
}

export function children(bytes: Uint8Array): Tlv[] {
  const items: Tlv[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    const item = readTlv(bytes, offset);
    items.push(item);
    offset = item.end;
  }
  return items;
}

/** `-----BEGIN <label>-----` blocks (RFC 7468), in order; text outside them and RFC 1421 headers are ignored. */
export function pemBlocks(pem: string): { label: string; der: Uint8Array }[] {
  const blocks: { label: string; der: Uint8Array }[] = [];
  const pattern = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (const match of pem.matchAll(pattern)) {
    const body = (match[2] ?? "")
      .split(/\r?\n/)
      .filter((line) => !line.includes(":"))
      .join("")
      .replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new Error(`PEM block ${match[1]} is not base64`);
    blocks.push({ label: match[1] as string, der: new Uint8Array(Buffer.from(body, "base64")) });
  }
  return blocks;
}

/** RFC 7468 §2: base64 in lines of 64 characters. */
export function pem(der: Uint8Array, label: string): string {
  const base64 = Buffer.from(der).toString("base64");
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----`;
}
