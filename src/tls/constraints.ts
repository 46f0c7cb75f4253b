/**
 * Which names gotunnel's CA may vouch for: the RFC 5280 §4.2.1.10 nameConstraints extension (permitted subtrees only),
 * its DER encoding, and the check that refuses a route outside it before any certificate is signed.
 *
 * Why constrain at all: a user who trusts a local CA trusts its key for every name on the internet. With permitted
 * subtrees limited to dev-only suffixes and private addresses, a stolen rootCA-key.pem cannot impersonate a bank
 * to a client that enforces the extension (OpenSSL, NSS, Chromium, Go: see tests/integration/name-constraints).
 * The DER is written by hand (no dependency beyond this file): the structure is three nested SEQUENCEs.
 */
import { isIP } from "node:net";
import { GotunnelError } from "../core/errors.ts";

export const NAME_CONSTRAINTS_OID = "2.5.29.30";

/**
 * Special-use suffixes that never resolve on the public internet: .local (RFC 6762), .localhost and .test
 * (RFC 6761 §6.2, §6.3), .home.arpa (RFC 8375) and .internal (ICANN reserved it for private use in 2024).
 * Stored without the leading dot: an RFC 5280 dNSName constraint `local` matches `local` and every `*.local`.
 */
export const DEFAULT_PERMITTED_SUFFIXES = ["local", "localhost", "test", "internal", "home.arpa"] as const;

/** Loopback, RFC 1918 private, RFC 4193 unique-local and link-local ranges. */
const PRIVATE_IPV4_RANGES = ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];
const PRIVATE_IPV6_RANGES = ["::1/128", "fc00::/7", "fe80::/10"];
/**
 * The same IPv4 ranges as IPv4-mapped IPv6 (RFC 4291 §2.5.5.2): validators compare a 16-byte SAN only with 16-byte
 * constraints, so `::ffff:127.0.0.1` needs its own entry to stay valid.
 */
const MAPPED_IPV4_RANGES = PRIVATE_IPV4_RANGES.map((range) => {
  const [address, bits] = range.split("/");
  return `::ffff:${address}/${96 + Number(bits)}`;
});
export const DEFAULT_PERMITTED_IP_RANGES = [...PRIVATE_IPV4_RANGES, ...PRIVATE_IPV6_RANGES, ...MAPPED_IPV4_RANGES];

export interface NameConstraints {
  /** dNSName subtrees as RFC 5280 writes them (`local`); empty means DNS names are not constrained. */
  dnsSuffixes: string[];
  /** iPAddress subtrees in CIDR notation (`127.0.0.0/8`); empty means IP addresses are not constrained. */
  ipRanges: string[];
}

const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/**
 * The constraints for a new CA: the defaults plus `extraSuffixes` (the `tls.suffixes` config list and
 * `gotunnel ca rotate --allow-suffix`). Suffixes may be given with or without the leading dot.
 */
export function defaultNameConstraints(extraSuffixes: readonly string[] = []): NameConstraints {
  const suffixes = [...DEFAULT_PERMITTED_SUFFIXES, ...extraSuffixes.map(normalizeSuffix)];
  return { dnsSuffixes: [...new Set(suffixes)], ipRanges: [...DEFAULT_PERMITTED_IP_RANGES] };
}

/** `.Dev.` → `dev`. Rejects anything that is not a DNS suffix (a wildcard, an IP, an empty string). */
export function normalizeSuffix(raw: string): string {
  const suffix = raw.trim().toLowerCase().replace(/^\./, "").replace(/\.$/, "");
  if (!suffix || isIP(suffix) !== 0 || !suffix.split(".").every((label) => LDH_LABEL.test(label))) {
    throw new GotunnelError("E_USAGE", `"${raw}" is not a DNS suffix gotunnel's CA can be limited to.`, {
      hint: "Give a suffix such as .dev or .corp.example (letters, digits, hyphens and dots; no wildcard).",
      details: { suffix: raw },
    });
  }
  return suffix;
}

/** `.local, .localhost, …` for messages. */
export function describeSuffixes(constraints: NameConstraints): string {
  return constraints.dnsSuffixes.map((suffix) => (suffix.startsWith(".") ? suffix : `.${suffix}`)).join(", ");
}

/** True when a certificate for `name` (a host name, `*.host`, or an IP literal) chains under these constraints. */
export function isPermitted(name: string, constraints: NameConstraints): boolean {
  const bare = name.startsWith("[") && name.endsWith("]") ? name.slice(1, -1) : name;
  if (isIP(bare) !== 0) {
    if (constraints.ipRanges.length === 0) return true;
    const address = ipBytes(bare);
    return constraints.ipRanges.some((range) => inRange(address, range));
  }
  if (constraints.dnsSuffixes.length === 0) return true;
  const host = bare.toLowerCase().replace(/\.$/, "");
  return constraints.dnsSuffixes.some((raw) => {
    const suffix = raw.toLowerCase();
    // A leading dot means "subdomains only" in OpenSSL, NSS and Go; RFC 5280's form (no dot) also matches itself.
    if (suffix.startsWith(".")) return host.endsWith(suffix);
    return host === suffix || host.endsWith(`.${suffix}`);
  });
}

/** Throws E_TLS naming the first route outside the CA's permitted names, and the documented way to widen the CA. */
export function assertPermitted(names: readonly string[], constraints: NameConstraints | undefined): void {
  if (!constraints) return;
  const outside = names.filter((name) => !isPermitted(name, constraints));
  if (outside.length === 0) return;
  const first = outside[0]!;
  const suffix = isIP(first.replace(/^\[|\]$/g, "")) !== 0 ? undefined : `.${first.split(".").slice(-1)[0]}`;
  throw new GotunnelError(
    "E_TLS",
    `Cannot serve "${first}" over HTTPS: gotunnel's CA is limited to ${describeSuffixes(constraints)} and ` +
      "loopback/private IP addresses, and browsers reject certificates outside that.",
    {
      hint: suffix
        ? `Use a name under one of those suffixes (e.g. ${first.split(".")[0]}.local), or widen the CA with ` +
          `\`gotunnel ca rotate --allow-suffix ${suffix}\`: that creates a new CA, trusts it where the old one was ` +
          "trusted, and untrusts the old one."
        : "Use a loopback or private address (127.0.0.0/8, 10/8, 172.16/12, 192.168/16, ::1, fc00::/7, fe80::/10).",
      details: { names: outside, permitted: constraints },
    },
  );
}

/** DER of NameConstraints ::= SEQUENCE { permittedSubtrees [0] IMPLICIT GeneralSubtrees } (RFC 5280 §4.2.1.10). */
export function encodeNameConstraints(constraints: NameConstraints): Uint8Array {
  const subtrees = [
    ...constraints.dnsSuffixes.map((suffix) => tlv(DNS_NAME_TAG, new TextEncoder().encode(suffix))),
    ...constraints.ipRanges.map((range) => tlv(IP_ADDRESS_TAG, ipRangeBytes(range))),
  ].map((base) => tlv(SEQUENCE_TAG, base)); // GeneralSubtree: minimum is DEFAULT 0 and so omitted in DER
  return tlv(SEQUENCE_TAG, tlv(PERMITTED_TAG, concat(subtrees)));
}

/** Reads the permitted dNSName and iPAddress subtrees. Other name types and excludedSubtrees are not ours: ignored. */
export function decodeNameConstraints(der: Uint8Array): NameConstraints {
  const result: NameConstraints = { dnsSuffixes: [], ipRanges: [] };
  const outer = readTlv(der, 0);
  if (outer.tag !== SEQUENCE_TAG) throw new Error("nameConstraints is not a SEQUENCE");
  for (const part of children(outer.value)) {
    if (part.tag !== PERMITTED_TAG) continue;
    for (const subtree of children(part.value)) {
      const base = readTlv(subtree.value, 0);
      if (base.tag === DNS_NAME_TAG) result.dnsSuffixes.push(new TextDecoder().decode(base.value));
      if (base.tag === IP_ADDRESS_TAG) result.ipRanges.push(rangeFromBytes(base.value));
    }
  }
  return result;
}

const SEQUENCE_TAG = 0x30;
/** [0] IMPLICIT, constructed: permittedSubtrees. */
const PERMITTED_TAG = 0xa0;
/** GeneralName [2] IMPLICIT IA5String: dNSName; [7] IMPLICIT OCTET STRING: iPAddress (RFC 5280 §4.2.1.6). */
const DNS_NAME_TAG = 0x82;
const IP_ADDRESS_TAG = 0x87;

function tlv(tag: number, value: Uint8Array): Uint8Array {
  const length = value.length;
  const lengthBytes =
    length < 0x80 ? [length] : length < 0x100 ? [0x81, length] : [0x82, (length >> 8) & 0xff, length & 0xff];
  return concat([Uint8Array.of(tag, ...lengthBytes), value]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

interface Tlv {
  tag: number;
  value: Uint8Array;
  end: number;
}

function readTlv(bytes: Uint8Array, start: number): Tlv {
  const tag = bytes[start];
  let length = bytes[start + 1];
  if (tag === undefined || length === undefined) throw new Error("truncated DER");
  let offset = start + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 2) throw new Error("unsupported DER length");
    length = 0;
    for (let i = 0; i < count; i++) length = (length << 8) | (bytes[offset++] ?? 0);
  }
  if (offset + length > bytes.length) throw new Error("truncated DER");
  return { tag, value: bytes.subarray(offset, offset + length), end: offset + length };
}

function children(bytes: Uint8Array): Tlv[] {
  const items: Tlv[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    const item = readTlv(bytes, offset);
    items.push(item);
    offset = item.end;
  }
  return items;
}

/** Address bytes then mask bytes: 8 octets for IPv4, 32 for IPv6 (RFC 5280 §4.2.1.10). */
function ipRangeBytes(range: string): Uint8Array {
  const [address = "", bitsText = ""] = range.split("/");
  const bytes = ipBytes(address);
  const bits = Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > bytes.length * 8) throw new Error(`bad CIDR range ${range}`);
  const mask = bytes.map((_, index) => {
    const left = Math.min(8, Math.max(0, bits - index * 8));
    return (0xff << (8 - left)) & 0xff;
  });
  return concat([bytes.map((byte, index) => byte & mask[index]!), mask]);
}

function rangeFromBytes(bytes: Uint8Array): string {
  const half = bytes.length / 2;
  const address = bytes.subarray(0, half);
  const bits = [...bytes.subarray(half)].reduce((sum, byte) => sum + popcount(byte), 0);
  if (half === 4) return `${[...address].join(".")}/${bits}`;
  // IPv4-mapped (RFC 4291 §2.5.5.2): keep the dotted form people recognise, as DEFAULT_PERMITTED_IP_RANGES has it.
  if (address.subarray(0, 10).every((byte) => byte === 0) && address[10] === 0xff && address[11] === 0xff) {
    return `::ffff:${[...address.subarray(12)].join(".")}/${bits}`;
  }
  const groups: string[] = [];
  for (let i = 0; i < half; i += 2) groups.push((((address[i] ?? 0) << 8) | (address[i + 1] ?? 0)).toString(16));
  // URL canonicalises the IPv6 text (RFC 5952: "::" for the longest run of zeros).
  return `${new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1)}/${bits}`;
}

function popcount(byte: number): number {
  let count = 0;
  for (let value = byte; value; value >>= 1) count += value & 1;
  return count;
}

function inRange(address: Uint8Array, range: string): boolean {
  const encoded = ipRangeBytes(range);
  const half = encoded.length / 2;
  if (address.length !== half) return false;
  return address.every((byte, index) => (byte & encoded[half + index]!) === encoded[index]);
}

/** 4 or 16 bytes of an IP literal. IPv6 goes through URL first, which expands embedded IPv4 (`::ffff:1.2.3.4`). */
export function ipBytes(literal: string): Uint8Array {
  if (isIP(literal) === 4) return Uint8Array.from(literal.split(".").map(Number));
  if (isIP(literal) !== 6) throw new Error(`not an IP address: ${literal}`);
  const canonical = new URL(`http://[${literal}]/`).hostname.slice(1, -1);
  const [head = "", tail] = canonical.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  return Uint8Array.from(
    groups.flatMap((group) => [Number.parseInt(group, 16) >> 8, Number.parseInt(group, 16) & 0xff]),
  );
}
