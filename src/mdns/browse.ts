/**
 * `gotunnel discover`: browse the LAN for DNS-SD services (RFC 6763 §4) such as `_https._tcp`, with one-shot
 * queries (RFC 6762 §5.1) sent from an ephemeral port (transport.ts with port 0). Responders answer those with a
 * unicast reply to that port (§6.7), so this needs neither port 5353 nor privileges and can run next to avahi or
 * our own responder.
 */
import { networkInterfaces } from "node:os";
import { decodeMessage } from "./decode.ts";
import { lanInterfaces, type RawInterfaces, snapshotInterfaces } from "./interfaces.ts";
import { HTTPS_SERVICE_TYPE, instanceLabel, sameName } from "./names.ts";
import { type Datagram, type OpenTransport, openTransport } from "./transport.ts";
import { type DnsRecord, encodeMessage, isResponse, type Question, recordKey, TYPE } from "./wire.ts";

export const DEFAULT_DISCOVER_TIMEOUT_MS = 3000;
/** Follow-up queries for what the first answers left out (SRV, TXT, addresses) go out at these fractions. */
const FOLLOW_UP_AT = [0.35, 0.65];

export interface DiscoveredService {
  /** Instance name, e.g. `myapp.local`. */
  name: string;
  type: string;
  host: string | undefined;
  port: number | undefined;
  addresses: string[];
  txt: Record<string, string>;
  /** `https://host:port/path` when the host and port are known. */
  url: string | undefined;
  /** Advertised by gotunnel (its TXT has the `gotunnel` key). */
  gotunnel: boolean;
}

export interface DiscoverOptions {
  serviceType?: string;
  timeoutMs?: number;
  networkInterfaces?: () => RawInterfaces;
  /** Told about replies that could not be read and families that could not be used. */
  onWarning?: (message: string) => void;
  openTransport?: OpenTransport;
}

export async function discoverServices(options: DiscoverOptions = {}): Promise<DiscoveredService[]> {
  const type = options.serviceType ?? HTTPS_SERVICE_TYPE;
  const timeoutMs = options.timeoutMs ?? DEFAULT_DISCOVER_TIMEOUT_MS;
  const ifaces = lanInterfaces(snapshotInterfaces((options.networkInterfaces ?? networkInterfaces)()));
  const records = new Map<string, DnsRecord>();
  const warn = options.onWarning ?? (() => {});
  const onMessage = ({ data }: Datagram) => {
    const message = decodeOrUndefined(data, warn);
    if (!message || !isResponse(message)) return;
    for (const record of [...message.answers, ...message.additionals])
      if (record.ttl > 0) records.set(recordKey(record), record);
  };
  const open = options.openTransport ?? openTransport;
  const transport = await open({ port: 0, onMessage, onWarning: (message, error) => warn(`${message}: ${error}`) });
  const ask = async (questions: Question[]) => {
    const packet = encodeMessage({ id: 0, flags: 0, questions, answers: [], authorities: [], additionals: [] });
    for (const iface of ifaces) await transport.sendMulticast(packet, iface);
  };
  try {
    await ask([{ name: type, type: TYPE.PTR, unicastResponse: false }]);
    let elapsedMs = 0;
    for (const fraction of FOLLOW_UP_AT) {
      await Bun.sleep(timeoutMs * fraction - elapsedMs);
      elapsedMs = timeoutMs * fraction;
      const missing = followUpQuestions(type, [...records.values()]);
      if (missing.length > 0) await ask(missing);
    }
    await Bun.sleep(timeoutMs - elapsedMs);
  } finally {
    await transport.close();
  }
  return assembleServices(type, [...records.values()]);
}

/** A malformed reply from some device on the LAN is skipped: browsing reports what it could read. */
function decodeOrUndefined(data: Uint8Array, warn: (message: string) => void) {
  try {
    return decodeMessage(data);
  } catch (error) {
    warn(`skipped a malformed mDNS reply: ${String(error)}`);
    return undefined;
  }
}

/** SRV/TXT for instances we only have a PTR for, and A/AAAA for hosts with no address yet. */
export function followUpQuestions(type: string, records: readonly DnsRecord[]): Question[] {
  const questions: Question[] = [];
  for (const service of assembleServices(type, records)) {
    const instance = instanceName(type, records, service.name);
    if (!instance) continue;
    if (service.port === undefined) questions.push({ name: instance, type: TYPE.SRV, unicastResponse: false });
    if (Object.keys(service.txt).length === 0)
      questions.push({ name: instance, type: TYPE.TXT, unicastResponse: false });
    if (service.host && service.addresses.length === 0) {
      questions.push({ name: service.host, type: TYPE.A, unicastResponse: false });
      questions.push({ name: service.host, type: TYPE.AAAA, unicastResponse: false });
    }
  }
  return questions;
}

function instanceName(type: string, records: readonly DnsRecord[], label: string): string | undefined {
  for (const record of records)
    if (record.type === "PTR" && sameName(record.name, type) && instanceLabel(record.target) === label)
      return record.target;
  return undefined;
}

/** Joins PTR → SRV/TXT → A/AAAA into one entry per service instance, sorted by name. */
export function assembleServices(type: string, records: readonly DnsRecord[]): DiscoveredService[] {
  const services = new Map<string, DiscoveredService>();
  for (const ptr of records) {
    if (ptr.type !== "PTR" || !sameName(ptr.name, type) || services.has(ptr.target.toLowerCase())) continue;
    const srv = records.find((r) => r.type === "SRV" && sameName(r.name, ptr.target));
    const txt = records.find((r) => r.type === "TXT" && sameName(r.name, ptr.target));
    const host = srv?.type === "SRV" ? srv.target : undefined;
    const port = srv?.type === "SRV" ? srv.port : undefined;
    const entries = txt?.type === "TXT" ? parseTxt(txt.entries) : {};
    services.set(ptr.target.toLowerCase(), {
      name: instanceLabel(ptr.target),
      type: type.replace(/\.local\.?$/, ""),
      host,
      port,
      addresses: host ? addressesOf(records, host) : [],
      txt: entries,
      url: host && port !== undefined ? serviceUrl(type, host, port, entries.path) : undefined,
      gotunnel: "gotunnel" in entries,
    });
  }
  return [...services.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function addressesOf(records: readonly DnsRecord[], host: string): string[] {
  const found = records.flatMap((r) =>
    (r.type === "A" || r.type === "AAAA") && sameName(r.name, host) ? [r.address] : [],
  );
  return [...new Set(found)].sort();
}

/** RFC 6763 §6.3–6.4: `key=value`, or a bare `key` (a boolean attribute, stored as ""). The first wins. */
function parseTxt(entries: readonly string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (const entry of entries) {
    const equals = entry.indexOf("=");
    const key = (equals === -1 ? entry : entry.slice(0, equals)).toLowerCase();
    if (key !== "" && !(key in result)) result[key] = equals === -1 ? "" : entry.slice(equals + 1);
  }
  return result;
}

function serviceUrl(type: string, host: string, port: number, path: string | undefined): string {
  const scheme = type.startsWith("_https.") ? "https" : "http";
  const defaultPort = scheme === "https" ? 443 : 80;
  const suffix = path?.startsWith("/") ? path : "/";
  return `${scheme}://${host}${port === defaultPort ? "" : `:${port}`}${suffix}`;
}
