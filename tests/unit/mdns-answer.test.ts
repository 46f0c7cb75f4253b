import { describe, expect, test } from "bun:test";
import { answerQuery, legacyResponse, mdnsResponse, packMessages } from "../../src/mdns/answer.ts";
import { addressGoodbyePackets, announcementPackets, goodbyePackets, probePackets } from "../../src/mdns/claims.ts";
import { decodeMessage } from "../../src/mdns/decode.ts";
import { type Advert, advertsFor } from "../../src/mdns/records.ts";
import { type DnsMessage, type DnsRecord, encodeMessage, type Question, TYPE } from "../../src/mdns/wire.ts";

const BOTH = { v4: ["192.168.1.20"], v6: ["fd00::20"] };
const V4_ONLY = { v4: ["192.168.1.20"], v6: [] };
const PORTS = { https: 443, http: 80 };

const adverts = advertsFor(
  [
    { name: "myapp.local" },
    { name: "*.wild.local", wildcard: true },
    { name: "plain.local", https: false },
    { name: "private.local", lan: false },
    { name: "hello.localhost" },
    { name: "api.test" },
  ],
  PORTS,
);

function query(questions: Partial<Question>[], answers: DnsRecord[] = []): DnsMessage {
  const full = questions.map((q) => ({ name: "", type: TYPE.A, unicastResponse: false, ...q }));
  return { id: 7, flags: 0, questions: full, answers, authorities: [], additionals: [] };
}

const summary = (records: DnsRecord[]) =>
  records.map((r) => {
    const data = r.type === "A" || r.type === "AAAA" ? r.address : r.type === "PTR" || r.type === "SRV" ? r.target : "";
    return `${r.name} ${r.type} ${data}`.trim();
  });

describe("what is advertised", () => {
  test(".local routes shared on the LAN only; wildcard by its base name; https:false as _http._tcp", () => {
    expect(adverts.map((a: Advert) => [a.host, a.wildcard, a.service?.type, a.service?.port])).toEqual([
      ["myapp.local", false, "_https._tcp.local", 443],
      ["wild.local", true, "_https._tcp.local", 443],
      ["plain.local", false, "_http._tcp.local", 80],
    ]);
    expect(adverts[0]?.service?.instance).toBe("myapp\\.local._https._tcp.local");
    expect(adverts[0]?.service?.txt).toEqual(["path=/", "gotunnel=1"]);
  });

  test("the global lan setting applies to routes that do not set their own", () => {
    const routes = [{ name: "a.local" }, { name: "b.local", lan: true }];
    expect(advertsFor(routes, PORTS, false).map((a) => a.host)).toEqual(["b.local"]);
  });
});

describe("answerQuery (RFC 6762 §6)", () => {
  test("A for a route: the interface's IPv4 address, AAAA as additional (§6.2)", () => {
    const answer = answerQuery(query([{ name: "MyApp.Local" }]), adverts, BOTH);
    expect(summary(answer!.answers)).toEqual(["MyApp.Local A 192.168.1.20"]);
    expect(summary(answer!.additionals)).toEqual(["MyApp.Local AAAA fd00::20"]);
    expect(answer?.answers[0]).toMatchObject({ ttl: 120, cacheFlush: true });
  });

  test("AAAA on an interface without IPv6: an NSEC saying only A exists (§6.1)", () => {
    const answer = answerQuery(query([{ name: "myapp.local", type: TYPE.AAAA }]), adverts, V4_ONLY);
    expect(answer?.answers).toEqual([
      { name: "myapp.local", type: "NSEC", next: "myapp.local", types: [TYPE.A], ttl: 120, cacheFlush: true },
    ]);
  });

  test("a direct subdomain of a wildcard route is answered under the asked name; deeper ones are not", () => {
    const answer = answerQuery(query([{ name: "x.wild.local" }]), adverts, BOTH);
    expect(summary(answer!.answers)).toEqual(["x.wild.local A 192.168.1.20"]);
    expect(answerQuery(query([{ name: "a.b.wild.local" }]), adverts, BOTH)).toBeUndefined();
  });

  test("names that are not ours, not .local, or not shared get no answer", () => {
    for (const name of ["nobody.local", "hello.localhost", "api.test", "private.local"]) {
      expect(answerQuery(query([{ name }]), adverts, BOTH)).toBeUndefined();
    }
  });

  test("browsing _https._tcp: PTR, plus SRV, TXT and addresses as additionals (RFC 6763 §12.1)", () => {
    const answer = answerQuery(query([{ name: "_https._tcp.local", type: TYPE.PTR }]), adverts, BOTH);
    expect(summary(answer!.answers)).toEqual([
      "_https._tcp.local PTR myapp\\.local._https._tcp.local",
      "_https._tcp.local PTR wild\\.local._https._tcp.local",
    ]);
    expect(summary(answer!.additionals)).toContain("myapp\\.local._https._tcp.local SRV myapp.local");
    expect(summary(answer!.additionals)).toContain("wild.local A 192.168.1.20");
    expect(answer).toMatchObject({ shared: true, unicast: false });
  });

  test("service type enumeration lists both types (RFC 6763 §9)", () => {
    const answer = answerQuery(query([{ name: "_services._dns-sd._udp.local", type: TYPE.PTR }]), adverts, BOTH);
    expect(summary(answer!.answers)).toEqual([
      "_services._dns-sd._udp.local PTR _https._tcp.local",
      "_services._dns-sd._udp.local PTR _http._tcp.local",
    ]);
  });

  test("SRV/TXT of an instance, ANY returns both", () => {
    const name = "myapp\\.local._https._tcp.local";
    expect(answerQuery(query([{ name, type: TYPE.ANY }]), adverts, BOTH)?.answers.map((r) => r.type)).toEqual([
      "SRV",
      "TXT",
    ]);
    expect(answerQuery(query([{ name, type: TYPE.TXT }]), adverts, BOTH)?.answers.map((r) => r.type)).toEqual(["TXT"]);
  });

  test("known-answer suppression (§7.1): a record the asker holds with ≥ half its TTL is left out", () => {
    const known: DnsRecord = { name: "myapp.local", type: "A", address: "192.168.1.20", ttl: 60, cacheFlush: false };
    expect(answerQuery(query([{ name: "myapp.local" }], [known]), adverts, BOTH)).toBeUndefined();
    const stale = { ...known, ttl: 59 };
    expect(answerQuery(query([{ name: "myapp.local" }], [stale]), adverts, BOTH)?.answers).toHaveLength(1);
  });

  test("QU only when every answered question asked for it (§5.4); responses and non-zero opcodes are ignored", () => {
    const qu = query([{ name: "myapp.local", unicastResponse: true }]);
    expect(answerQuery(qu, adverts, BOTH)?.unicast).toBe(true);
    const mixed = query([{ name: "myapp.local", unicastResponse: true }, { name: "wild.local" }]);
    expect(answerQuery(mixed, adverts, BOTH)?.unicast).toBe(false);
    expect(answerQuery({ ...qu, flags: 0x8400 }, adverts, BOTH)).toBeUndefined();
    expect(answerQuery({ ...qu, flags: 0x2800 }, adverts, BOTH)).toBeUndefined();
  });
});

describe("response messages", () => {
  const answer = answerQuery(query([{ name: "myapp.local" }]), adverts, BOTH)!;

  test("multicast: id 0, no questions, authoritative (§18.1, §6)", () => {
    expect(mdnsResponse(answer)).toMatchObject({ id: 0, flags: 0x8400, questions: [] });
  });

  test("legacy unicast (§6.7): id and question echoed, TTL ≤ 10, no cache-flush bit", () => {
    const reply = legacyResponse(query([{ name: "myapp.local" }]), answer);
    expect(reply.id).toBe(7);
    expect(reply.questions).toEqual([{ name: "myapp.local", type: TYPE.A, unicastResponse: false }]);
    for (const record of [...reply.answers, ...reply.additionals]) {
      expect(record.ttl).toBeLessThanOrEqual(10);
      expect(record.cacheFlush).toBe(false);
    }
  });

  test("packMessages splits at the size limit and keeps every record", () => {
    const records = Array.from(
      { length: 60 },
      (_, i): DnsRecord => ({
        name: `host-${i}.local`,
        type: "A",
        address: `10.0.0.${i}`,
        ttl: 120,
        cacheFlush: true,
      }),
    );
    const parts = records.map((record) => ({ ...mdnsResponse({ answers: [], additionals: [] }), answers: [record] }));
    const packets = packMessages(parts, 400);
    expect(packets.length).toBeGreaterThan(1);
    for (const packet of packets) expect(packet.length).toBeLessThanOrEqual(400);
    expect(packets.flatMap((p) => decodeMessage(p).answers)).toEqual(records);
  });
});

describe("probes, announcements, goodbyes (§8, §10.1)", () => {
  const decodeAll = (packets: Uint8Array[]) => packets.map(decodeMessage);

  test("a probe asks ANY for the host and instance names and proposes its records without cache-flush", () => {
    const [probe] = decodeAll(probePackets(adverts.slice(0, 1), BOTH, true));
    expect(probe?.questions).toEqual([
      { name: "myapp.local", type: TYPE.ANY, unicastResponse: true },
      { name: "myapp\\.local._https._tcp.local", type: TYPE.ANY, unicastResponse: true },
    ]);
    expect(probe?.authorities.map((r) => r.type)).toEqual(["A", "AAAA", "SRV", "TXT"]);
    expect(probe?.authorities.every((r) => !r.cacheFlush)).toBe(true);
  });

  test("an announcement carries every record, the enumeration PTR, and NSEC for a missing family", () => {
    const [announcement] = decodeAll(announcementPackets(adverts.slice(0, 1), V4_ONLY));
    expect(announcement?.flags).toBe(0x8400);
    expect(summary(announcement!.answers)).toEqual([
      "myapp.local A 192.168.1.20",
      "_https._tcp.local PTR myapp\\.local._https._tcp.local",
      "myapp\\.local._https._tcp.local SRV myapp.local",
      "myapp\\.local._https._tcp.local TXT",
      "_services._dns-sd._udp.local PTR _https._tcp.local",
    ]);
    expect(summary(announcement!.additionals)).toEqual(["myapp.local NSEC"]);
  });

  test("a goodbye is the same records with TTL 0; a type still offered stays enumerated", () => {
    const [bye] = decodeAll(goodbyePackets(adverts.slice(0, 1), adverts.slice(1, 2), BOTH));
    expect(bye?.answers.every((r) => r.ttl === 0)).toBe(true);
    expect(summary(bye!.answers)).not.toContain("_services._dns-sd._udp.local PTR _https._tcp.local");
    const [last] = decodeAll(goodbyePackets(adverts.slice(0, 1), [], BOTH));
    expect(summary(last!.answers)).toContain("_services._dns-sd._udp.local PTR _https._tcp.local");
  });

  test("lost addresses get a goodbye of their A/AAAA records only", () => {
    const [bye] = decodeAll(addressGoodbyePackets(adverts.slice(0, 1), { v4: ["192.168.1.9"], v6: [] }));
    expect(bye?.answers).toEqual([
      { name: "myapp.local", type: "A", address: "192.168.1.9", ttl: 0, cacheFlush: true },
    ]);
    expect(addressGoodbyePackets(adverts, { v4: [], v6: [] })).toEqual([]);
  });

  test("every packet decodes as what was encoded", () => {
    for (const packet of announcementPackets(adverts, BOTH)) {
      expect(encodeMessage(decodeMessage(packet))).toEqual(packet);
    }
  });
});
