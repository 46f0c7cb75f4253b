/**
 * The unsolicited packets of claiming names: probes (RFC 6762 §8.1), announcements (§8.3) and goodbyes (§10.1),
 * built for one interface's addresses. Pure functions; the responder schedules them.
 */
import { packMessages, responsePackets } from "./answer.ts";
import { SERVICE_TYPE_ENUMERATION, sameName } from "./names.ts";
import {
  type Addresses,
  type Advert,
  addressNsec,
  addressRecords,
  advertRecords,
  enumerationRecords,
  goodbye,
  uniqueNames,
} from "./records.ts";
import { type DnsMessage, type DnsRecord, TYPE } from "./wire.ts";

/**
 * One probe per advert: questions of type ANY for the names it claims, and in the authority section the records
 * it proposes (§8.2 compares those in a tie-break). PTR records are shared, so they are not probed; the
 * cache-flush bit is never set in a probe.
 */
export function probePackets(adverts: readonly Advert[], addresses: Addresses, unicastResponse: boolean): Uint8Array[] {
  return packMessages(adverts.map((advert) => probeMessage(advert, addresses, unicastResponse)));
}

function probeMessage(advert: Advert, addresses: Addresses, unicastResponse: boolean): DnsMessage {
  return {
    id: 0,
    flags: 0,
    questions: uniqueNames(advert).map((name) => ({ name, type: TYPE.ANY, unicastResponse })),
    answers: [],
    authorities: probeRecords(advert, addresses),
    additionals: [],
  };
}

export function probeRecords(advert: Advert, addresses: Addresses): DnsRecord[] {
  return advertRecords(advert, addresses)
    .filter((record) => record.type !== "PTR")
    .map((record) => ({ ...record, cacheFlush: false }));
}

/** Everything `adverts` claim over an interface with `addresses`, plus the service-type enumeration (RFC 6763 §9). */
function claimRecords(adverts: readonly Advert[], addresses: Addresses): DnsRecord[] {
  return [...adverts.flatMap((advert) => advertRecords(advert, addresses)), ...enumerationRecords(adverts)];
}

/** §8.3: all records in the answer section. NSEC rides along so a querier learns which family is missing (§6.1). */
export function announcementPackets(adverts: readonly Advert[], addresses: Addresses): Uint8Array[] {
  const complete = addresses.v4.length > 0 && addresses.v6.length > 0;
  const nsec = complete ? [] : adverts.map((advert) => addressNsec(advert.host, addresses));
  return responsePackets(claimRecords(adverts, addresses), nsec);
}

/**
 * §10.1: the leaving adverts' records with TTL 0. A service type stays enumerated while another advert that
 * `remains` still offers it.
 */
export function goodbyePackets(
  leaving: readonly Advert[],
  remaining: readonly Advert[],
  addresses: Addresses,
): Uint8Array[] {
  const stillOffered = new Set(enumerationRecords(remaining).map((record) => record.type === "PTR" && record.target));
  const records = claimRecords(leaving, addresses).filter(
    (record) =>
      !(record.type === "PTR" && sameName(record.name, SERVICE_TYPE_ENUMERATION) && stillOffered.has(record.target)),
  );
  return responsePackets(goodbye(records));
}

/** §10.1 for addresses an interface lost: their A/AAAA records of every advert, with TTL 0. */
export function addressGoodbyePackets(adverts: readonly Advert[], lost: Addresses): Uint8Array[] {
  if (lost.v4.length + lost.v6.length === 0) return [];
  const records = adverts.flatMap((advert) => addressRecords(advert.host, lost));
  return responsePackets(goodbye(records));
}
