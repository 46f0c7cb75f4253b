/**
 * What the responder advertises for each route, as DNS records: the host name's A/AAAA (RFC 6762), and a DNS-SD
 * service instance (RFC 6763): PTR `_https._tcp.local` → instance, SRV instance → host:port, TXT `path=/`.
 * Pure functions: the addresses come from the interface the records are sent on.
 */
import {
  HTTP_SERVICE_TYPE,
  HTTPS_SERVICE_TYPE,
  instanceName,
  isLocalName,
  SERVICE_TYPE_ENUMERATION,
  sameName,
} from "./names.ts";
import { type DnsRecord, TYPE } from "./wire.ts";

/** RFC 6762 §10: records that carry a host name or address (A, AAAA, SRV) live 120 s… */
export const HOST_RECORD_TTL_S = 120;
/** …and the rest (PTR, TXT) 75 minutes. */
export const OTHER_RECORD_TTL_S = 4500;
/** RFC 6762 §6.7: answers to legacy unicast queries carry a TTL of at most 10 s. */
export const LEGACY_TTL_MAX_S = 10;
/**
 * RFC 6763 §6: `path` is the key DNS-SD browsers use for HTTP services; `gotunnel` (protocol version of these TXT
 * keys, not the app version) lets `gotunnel discover` tell our routes from other HTTPS services.
 */
export const TXT_ENTRIES = ["path=/", "gotunnel=1"] as const;

const WILDCARD_PREFIX = "*.";

/** The route fields the responder reads: a subset of the config's ResolvedRoute, so the daemon can pass those. */
export interface MdnsRoute {
  name: string;
  wildcard?: boolean;
  /** false: plain HTTP only, advertised as `_http._tcp` on the HTTP port. */
  https?: boolean;
  /** false: not shared on the LAN, so not advertised. Undefined follows the global `lan` setting. */
  lan?: boolean;
}

export interface ServicePorts {
  https: number;
  http?: number;
}

export interface ServiceAdvert {
  type: string;
  instance: string;
  port: number;
  txt: string[];
}

export interface Advert {
  /** The host name we answer A/AAAA for, e.g. `myapp.local` (the base name of a wildcard route). */
  host: string;
  /** Also answer for every direct subdomain of `host` (route `*.myapp.local`). */
  wildcard: boolean;
  service: ServiceAdvert | undefined;
}

export interface Addresses {
  v4: string[];
  v6: string[];
}

/** Routes → adverts: `.local` names only (RFC 6762 §3: other names belong to unicast DNS) and only LAN-shared ones. */
export function advertsFor(routes: readonly MdnsRoute[], ports: ServicePorts, lanDefault = true): Advert[] {
  const adverts: Advert[] = [];
  for (const route of routes) {
    // The config keeps the "*." of a wildcard route in its name; the base name is what we claim and probe.
    const wildcard = route.wildcard === true || route.name.startsWith(WILDCARD_PREFIX);
    const host = route.name.startsWith(WILDCARD_PREFIX) ? route.name.slice(WILDCARD_PREFIX.length) : route.name;
    if (!isLocalName(host) || !(route.lan ?? lanDefault)) continue;
    if (adverts.some((advert) => sameName(advert.host, host))) continue;
    const https = route.https !== false;
    const port = https ? ports.https : ports.http;
    const type = https ? HTTPS_SERVICE_TYPE : HTTP_SERVICE_TYPE;
    const service = port ? { type, instance: instanceName(host, type), port, txt: [...TXT_ENTRIES] } : undefined;
    adverts.push({ host, wildcard, service });
  }
  return adverts;
}

/** The names we claim as unique and so probe for (RFC 6762 §8.1): the host name and the service instance name. */
export function uniqueNames(advert: Advert): string[] {
  return advert.service ? [advert.host, advert.service.instance] : [advert.host];
}

export function addressRecords(name: string, addresses: Addresses, ttl = HOST_RECORD_TTL_S): DnsRecord[] {
  return [
    ...addresses.v4.map((address): DnsRecord => ({ name, type: "A", address, ttl, cacheFlush: true })),
    ...addresses.v6.map((address): DnsRecord => ({ name, type: "AAAA", address, ttl, cacheFlush: true })),
  ];
}

/**
 * RFC 6762 §6.1: an NSEC record asserting which of A/AAAA exist under `name`, so a querier learns at once that the
 * other family does not (instead of waiting for a timeout).
 */
export function addressNsec(name: string, addresses: Addresses, ttl = HOST_RECORD_TTL_S): DnsRecord {
  const types = [...(addresses.v4.length > 0 ? [TYPE.A] : []), ...(addresses.v6.length > 0 ? [TYPE.AAAA] : [])];
  return { name, type: "NSEC", next: name, types, ttl, cacheFlush: true };
}

export function servicePtr(service: ServiceAdvert, ttl = OTHER_RECORD_TTL_S): DnsRecord {
  return { name: service.type, type: "PTR", target: service.instance, ttl, cacheFlush: false };
}

/** SRV and TXT of an instance: unique records, so the cache-flush bit is set (RFC 6762 §10.2). */
export function instanceRecords(advert: Advert, ttlScale = 1): DnsRecord[] {
  const service = advert.service;
  if (!service) return [];
  const srv: DnsRecord = {
    name: service.instance,
    type: "SRV",
    priority: 0,
    weight: 0,
    port: service.port,
    target: advert.host,
    ttl: HOST_RECORD_TTL_S * ttlScale,
    cacheFlush: true,
  };
  const txt: DnsRecord = {
    name: service.instance,
    type: "TXT",
    entries: service.txt,
    ttl: OTHER_RECORD_TTL_S * ttlScale,
    cacheFlush: true,
  };
  return [srv, txt];
}

/** RFC 6763 §9: `_services._dns-sd._udp.local` PTR → each service type we offer (shared records). */
export function enumerationRecords(adverts: readonly Advert[], ttl = OTHER_RECORD_TTL_S): DnsRecord[] {
  const types = [...new Set(adverts.flatMap((advert) => (advert.service ? [advert.service.type] : [])))];
  return types.map((type) => ({ name: SERVICE_TYPE_ENUMERATION, type: "PTR", target: type, ttl, cacheFlush: false }));
}

/** Everything one advert puts on the link over an interface with `addresses` (probe, announce, goodbye). */
export function advertRecords(advert: Advert, addresses: Addresses, ttlScale = 1): DnsRecord[] {
  const ptr = advert.service ? [servicePtr(advert.service, OTHER_RECORD_TTL_S * ttlScale)] : [];
  return [
    ...addressRecords(advert.host, addresses, HOST_RECORD_TTL_S * ttlScale),
    ...ptr,
    ...instanceRecords(advert, ttlScale),
  ];
}

/** The same records with TTL 0: a goodbye (RFC 6762 §10.1). */
export function goodbye(records: readonly DnsRecord[]): DnsRecord[] {
  return records.map((record) => ({ ...record, ttl: 0 }));
}
