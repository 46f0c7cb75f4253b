/**
 * IP address text ↔ bytes, subnet tests and loopback checks: just what the responder needs to pick the interface a
 * packet came from (RFC 6762 §11: answer only on-link sources) and what the LAN policy needs to spot loopback clients.
 * Pure functions; no sockets.
 */

const IPV4_BYTES = 4;
const IPV6_BYTES = 16;
const IPV6_GROUPS = 8;
/** RFC 4291 §2.5.5.2: ::ffff:a.b.c.d carries an IPv4 address (dual-stack sockets report IPv4 peers this way). */
const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** `"10.0.0.1"` → `[10, 0, 0, 1]`; undefined unless it is exactly a dotted quad. */
export function parseIPv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== IPV4_BYTES) return undefined;
  const bytes = parts.map((part) => (/^\d{1,3}$/.test(part) ? Number(part) : Number.NaN));
  return bytes.every((byte) => byte >= 0 && byte <= 255) ? bytes : undefined;
}

/** RFC 4291 §2.2 text (with `::`, an embedded IPv4 tail and an optional `%zone`) → 16 bytes. */
export function parseIPv6(text: string): number[] | undefined {
  const bare = withoutZone(text);
  const halves = bare.split("::");
  if (halves.length > 2) return undefined;
  const head = groupsOf(halves[0] ?? "");
  const tail = halves.length === 2 ? groupsOf(halves[1] ?? "") : [];
  if (!head || !tail) return undefined;
  const missing = IPV6_GROUPS - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  return groups.flatMap((group) => [group >> 8, group & 0xff]);
}

/** Colon groups of one side of `::`, an embedded dotted quad counting as two groups. */
function groupsOf(side: string): number[] | undefined {
  if (side === "") return [];
  const parts = side.split(":");
  const groups: number[] = [];
  for (const [index, part] of parts.entries()) {
    if (index === parts.length - 1 && part.includes(".")) {
      const v4 = parseIPv4(part);
      if (!v4) return undefined;
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) groups.push(Number.parseInt(part, 16));
    else return undefined;
  }
  return groups;
}

/** RFC 5952 §4 canonical text: lowercase, leading zeros dropped, the longest run of 2+ zero groups as `::`. */
export function formatIPv6(bytes: ArrayLike<number>): string {
  const groups: number[] = [];
  for (let i = 0; i < IPV6_BYTES; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  let best = { start: -1, length: 0 };
  let run = { start: -1, length: 0 };
  groups.forEach((group, index) => {
    if (group !== 0) run = { start: -1, length: 0 };
    else {
      run = run.start === -1 ? { start: index, length: 1 } : { start: run.start, length: run.length + 1 };
      if (run.length > best.length) best = run;
    }
  });
  const hex = groups.map((group) => group.toString(16));
  if (best.length < 2) return hex.join(":");
  const left = hex.slice(0, best.start).join(":");
  const right = hex.slice(best.start + best.length).join(":");
  return `${left}::${right}`;
}

export function withoutZone(address: string): string {
  const percent = address.indexOf("%");
  return percent === -1 ? address : address.slice(0, percent);
}

/** The `%zone` of a scoped IPv6 address (`fe80::1%eth0` → `eth0`), if any. */
export function zoneOf(address: string): string | undefined {
  const percent = address.indexOf("%");
  return percent === -1 ? undefined : address.slice(percent + 1);
}

/** Bytes of either family; an IPv4-mapped IPv6 address comes back as its 4 IPv4 bytes. */
export function addressBytes(address: string): number[] | undefined {
  const v4 = parseIPv4(address);
  if (v4) return v4;
  const v6 = parseIPv6(address);
  if (v6 && V4_MAPPED_PREFIX.every((byte, index) => v6[index] === byte)) return v6.slice(V4_MAPPED_PREFIX.length);
  return v6;
}

/** True when `address` and `own` share the network part under `netmask` (same family, after unmapping). */
export function sameSubnet(address: string, own: string, netmask: string): boolean {
  const [a, b, mask] = [addressBytes(address), addressBytes(own), addressBytes(netmask)];
  if (!a || !b || !mask || a.length !== b.length || a.length !== mask.length) return false;
  return a.every((byte, index) => (byte & mask[index]!) === (b[index]! & mask[index]!));
}

/** 127.0.0.0/8 (RFC 1122 §3.2.1.3), ::1 (RFC 4291 §2.5.3), and their IPv4-mapped forms. */
export function isLoopback(address: string): boolean {
  // The proxy asks this for every request: the addresses Bun reports for a local client answer without parsing.
  if (address === "127.0.0.1" || address === "::1" || address === "::ffff:127.0.0.1") return true;
  const bytes = addressBytes(address);
  if (!bytes) return false;
  if (bytes.length === IPV4_BYTES) return bytes[0] === 127;
  return bytes.every((byte, index) => byte === (index === IPV6_BYTES - 1 ? 1 : 0));
}

/** fe80::/10 (RFC 4291 §2.5.6): valid only with a zone, so most clients cannot use it from a name lookup. */
export function isLinkLocalV6(address: string): boolean {
  const bytes = parseIPv6(address);
  return bytes !== undefined && bytes[0] === 0xfe && (bytes[1]! & 0xc0) === 0x80;
}

/** RFC 1918 private IPv4 ranges: the addresses a phone on the same Wi-Fi is most likely to reach. */
export function isPrivateIPv4(address: string): boolean {
  const bytes = parseIPv4(address);
  if (!bytes) return false;
  const [a, b] = bytes as [number, number];
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}
