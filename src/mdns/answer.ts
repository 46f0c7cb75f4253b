/**
 * How the responder answers a query (RFC 6762 §6), as pure functions from the query and what we advertise on the
 * interface it arrived on to the reply message. The socket layer decides only where the reply goes.
 */

import { joinLabels, SERVICE_TYPE_ENUMERATION, sameName, splitLabels } from "./names.ts";
import {
  type Addresses,
  type Advert,
  addressNsec,
  addressRecords,
  enumerationRecords,
  instanceRecords,
  LEGACY_TTL_MAX_S,
  servicePtr,
} from "./records.ts";
import {
  type DnsMessage,
  type DnsRecord,
  encodeMessage,
  FLAG_AUTHORITATIVE,
  FLAG_RESPONSE,
  isResponse,
  type Question,
  recordKey,
  TYPE,
  typeCode,
} from "./wire.ts";

/** RFC 6762 §18.3: a query with any other opcode is silently ignored. */
const OPCODE_MASK = 0x7800;

export interface Answer {
  answers: DnsRecord[];
  additionals: DnsRecord[];
}

export interface QueryAnswer extends Answer {
  /** Every answered question had the QU bit: the asker wants a unicast reply (§5.4). */
  unicast: boolean;
  /** Some answer is a shared record (PTR), which §6 says to delay by 20–120 ms; unique ones go out at once. */
  shared: boolean;
}

/** The advert whose host name is `name`: exactly, or one label below it for a wildcard route. */
export function hostAdvert(adverts: readonly Advert[], name: string): Advert | undefined {
  const exact = adverts.find((advert) => sameName(advert.host, name));
  if (exact) return exact;
  const parent = joinLabels(splitLabels(name).slice(1));
  return adverts.find((advert) => advert.wildcard && sameName(advert.host, parent));
}

function wants(question: Question, type: number): boolean {
  return question.type === type || question.type === TYPE.ANY;
}

/** A/AAAA for a host name; the other family as additional records (§6.2); NSEC for what we lack (§6.1). */
function answerHost(question: Question, addresses: Addresses): Answer {
  const name = question.name;
  const v4 = addressRecords(name, { v4: addresses.v4, v6: [] });
  const v6 = addressRecords(name, { v4: [], v6: addresses.v6 });
  const answers = [...(wants(question, TYPE.A) ? v4 : []), ...(wants(question, TYPE.AAAA) ? v6 : [])];
  const complete = addresses.v4.length > 0 && addresses.v6.length > 0;
  const nsec = complete ? [] : [addressNsec(name, addresses)];
  // A negative answer is the NSEC itself; with a positive one it rides along as additional information.
  if (answers.length === 0) return { answers: nsec, additionals: [] };
  const others = [...(wants(question, TYPE.A) ? [] : v4), ...(wants(question, TYPE.AAAA) ? [] : v6)];
  return { answers, additionals: [...others, ...nsec] };
}

/** The host's addresses, which RFC 6763 §12.1–12.2 recommend adding to PTR and SRV answers. */
function hostAdditionals(advert: Advert, addresses: Addresses): DnsRecord[] {
  const complete = addresses.v4.length > 0 && addresses.v6.length > 0;
  return [...addressRecords(advert.host, addresses), ...(complete ? [] : [addressNsec(advert.host, addresses)])];
}

export function answerQuestion(question: Question, adverts: readonly Advert[], addresses: Addresses): Answer {
  const host = hostAdvert(adverts, question.name);
  if (host) return answerHost(question, addresses);
  const result: Answer = { answers: [], additionals: [] };
  if (wants(question, TYPE.PTR) && sameName(question.name, SERVICE_TYPE_ENUMERATION)) {
    result.answers.push(...enumerationRecords(adverts));
  }
  for (const advert of adverts) {
    const service = advert.service;
    if (!service) continue;
    if (wants(question, TYPE.PTR) && sameName(question.name, service.type)) {
      result.answers.push(servicePtr(service));
      result.additionals.push(...instanceRecords(advert), ...hostAdditionals(advert, addresses));
    } else if (sameName(question.name, service.instance)) {
      const records = instanceRecords(advert).filter((record) => wants(question, typeCode(record)));
      result.answers.push(...records);
      if (records.some((record) => record.type === "SRV"))
        result.additionals.push(...hostAdditionals(advert, addresses));
    }
  }
  return result;
}

/**
 * Everything we would say in reply to `query` on an interface with `addresses`, or undefined for nothing to say.
 * Applies known-answer suppression (§7.1): a record the asker already holds with at least half its TTL left is
 * left out.
 */
export function answerQuery(
  query: DnsMessage,
  adverts: readonly Advert[],
  addresses: Addresses,
): QueryAnswer | undefined {
  if (isResponse(query) || (query.flags & OPCODE_MASK) !== 0) return undefined;
  const answers: DnsRecord[] = [];
  const additionals: DnsRecord[] = [];
  let unicast = true;
  for (const question of query.questions) {
    const answer = answerQuestion(question, adverts, addresses);
    if (answer.answers.length === 0) continue;
    unicast &&= question.unicastResponse;
    answers.push(...answer.answers);
    additionals.push(...answer.additionals);
  }
  const known = new Map(query.answers.map((record) => [recordKey(record), record.ttl]));
  // One key per record: every answer counts as seen, so a suppressed one is not repeated as additional either.
  const seen = new Set<string>();
  const fresh = answers.filter((record) => {
    const key = recordKey(record);
    const duplicate = seen.has(key);
    seen.add(key);
    return !duplicate && (known.get(key) ?? -1) < record.ttl / 2;
  });
  if (fresh.length === 0) return undefined;
  const extra = additionals.filter((record) => {
    const key = recordKey(record);
    const duplicate = seen.has(key);
    seen.add(key);
    return !duplicate;
  });
  return { answers: fresh, additionals: extra, unicast, shared: fresh.some((record) => !record.cacheFlush) };
}

/** A multicast (or QU unicast) response: ID 0 and no questions (RFC 6762 §18.1, §6). */
export function mdnsResponse(answer: Answer): DnsMessage {
  const flags = FLAG_RESPONSE | FLAG_AUTHORITATIVE;
  return { id: 0, flags, questions: [], answers: answer.answers, authorities: [], additionals: answer.additionals };
}

/**
 * RFC 6762 §6.7: a query from a port other than 5353 comes from a plain DNS resolver (`dig @host -p 5353`). It
 * gets a conventional unicast reply: its ID and questions echoed, TTLs capped at 10 s, and no cache-flush bit
 * (§10.2), which such a resolver would read as a class.
 */
export function legacyResponse(query: DnsMessage, answer: Answer): DnsMessage {
  const plain = (record: DnsRecord): DnsRecord => ({
    ...record,
    ttl: Math.min(record.ttl, LEGACY_TTL_MAX_S),
    cacheFlush: false,
  });
  return {
    id: query.id,
    flags: FLAG_RESPONSE | FLAG_AUTHORITATIVE,
    questions: query.questions.map((question) => ({ ...question, unicastResponse: false })),
    answers: answer.answers.map(plain),
    authorities: [],
    additionals: answer.additionals.map(plain),
  };
}

/**
 * RFC 6762 §17 allows up to 9000 bytes, but a packet larger than the link MTU is fragmented, and Wi-Fi drops
 * fragments readily: stay under 1500 − 40 (IPv6) − 8 (UDP) with room to spare.
 */
export const MAX_PACKET_BYTES = 1400;

/** Encodes `parts` as few packets as fit under `limit`, merging the sections of consecutive parts. */
export function packMessages(parts: readonly DnsMessage[], limit = MAX_PACKET_BYTES): Uint8Array[] {
  const packets: Uint8Array[] = [];
  let current: DnsMessage | undefined;
  for (const part of parts) {
    const merged: DnsMessage | undefined = current && {
      ...current,
      questions: [...current.questions, ...part.questions],
      answers: [...current.answers, ...part.answers],
      authorities: [...current.authorities, ...part.authorities],
      additionals: [...current.additionals, ...part.additionals],
    };
    if (current && merged && encodeMessage(merged).length > limit) {
      packets.push(encodeMessage(current));
      current = part;
    } else current = merged ?? part;
  }
  if (current) packets.push(encodeMessage(current));
  return packets;
}

/** Unsolicited or multicast responses carrying `records` (and `additionals`), one record per part. */
export function responsePackets(records: readonly DnsRecord[], additionals: readonly DnsRecord[] = []): Uint8Array[] {
  const base = mdnsResponse({ answers: [], additionals: [] });
  return packMessages([
    ...records.map((record) => ({ ...base, answers: [record] })),
    ...additionals.map((record) => ({ ...base, additionals: [record] })),
  ]);
}
