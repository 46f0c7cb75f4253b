/**
 * Whether a packet from another host contradicts a name we claim: during probing (RFC 6762 §8.1, §8.2) and
 * afterwards (§9). Pure functions over decoded messages.
 */
import { addressBytes } from "./ip.ts";
import { sameName } from "./names.ts";
import { type DnsMessage, type DnsRecord, encodeRdata, recordKey, typeCode } from "./wire.ts";

export interface Contradiction {
  /** The name we claim. */
  name: string;
  /** The other host's record for it. */
  record: DnsRecord;
}

/** A record carrying one of this machine's own addresses is ours (an echo, or avahi on this host) — never a conflict. */
function isOwnAddress(record: DnsRecord, ownAddresses: ReadonlySet<string>): boolean {
  if (record.type !== "A" && record.type !== "AAAA") return false;
  const bytes = addressBytes(record.address)?.join(".");
  return [...ownAddresses].some((own) => addressBytes(own)?.join(".") === bytes);
}

/**
 * Records in a response that claim one of `names` with data different from ours. PTR records are shared (many
 * hosts may hold the same one) and goodbyes (TTL 0) give a name up, so neither conflicts; identical records are
 * no conflict either (§9).
 */
export function contradictions(
  response: DnsMessage,
  names: readonly string[],
  ours: readonly DnsRecord[],
  ownAddresses: ReadonlySet<string>,
): Contradiction[] {
  const ourKeys = new Set(ours.map(recordKey));
  const found: Contradiction[] = [];
  for (const record of [...response.answers, ...response.additionals]) {
    if (record.ttl === 0 || record.type === "PTR" || record.type === "NSEC") continue;
    const name = names.find((claimed) => sameName(claimed, record.name));
    if (name === undefined || ourKeys.has(recordKey(record)) || isOwnAddress(record, ownAddresses)) continue;
    found.push({ name, record });
  }
  return found;
}

/**
 * §8.2 simultaneous probe tie-break for one name: both sides' records for it, sorted by class, type and raw rdata,
 * are compared in turn; the first difference decides, the lexicographically later one wins, and a set that runs
 * out first loses. "tie" means the data is identical: no conflict.
 */
export function tieBreak(ours: readonly DnsRecord[], theirs: readonly DnsRecord[]): "win" | "lose" | "tie" {
  const [a, b] = [sortForTieBreak(ours), sortForTieBreak(theirs)];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const order = compareRecords(a[i]!, b[i]!);
    if (order !== 0) return order > 0 ? "win" : "lose";
  }
  if (a.length === b.length) return "tie";
  return a.length > b.length ? "win" : "lose";
}

function sortForTieBreak(records: readonly DnsRecord[]): DnsRecord[] {
  return [...records].sort(compareRecords);
}

/** Class is always IN here (the cache-flush bit is not set in probes, §8.2), so type then rdata bytes decide. */
function compareRecords(a: DnsRecord, b: DnsRecord): number {
  const byType = typeCode(a) - typeCode(b);
  if (byType !== 0) return byType;
  const [x, y] = [encodeRdata(a), encodeRdata(b)];
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/** A probe from another host (a query whose authority section proposes records) for one of `names`. */
export function competingProbe(query: DnsMessage, names: readonly string[]): Map<string, DnsRecord[]> {
  const byName = new Map<string, DnsRecord[]>();
  for (const record of query.authorities) {
    const name = names.find((claimed) => sameName(claimed, record.name));
    if (name !== undefined) byName.set(name, [...(byName.get(name) ?? []), record]);
  }
  return byName;
}
