import { describe, expect, test } from "bun:test";
import { competingProbe, contradictions, tieBreak } from "../../src/mdns/conflict.ts";
import type { DnsMessage, DnsRecord } from "../../src/mdns/wire.ts";

const a = (name: string, address: string, ttl = 120): DnsRecord => ({
  name,
  type: "A",
  address,
  ttl,
  cacheFlush: true,
});
const response = (answers: DnsRecord[], additionals: DnsRecord[] = []): DnsMessage => ({
  id: 0,
  flags: 0x8400,
  questions: [],
  answers,
  authorities: [],
  additionals,
});
const OWN = new Set(["192.168.1.20", "fd00::20"]);
const NAMES = ["myapp.local", "myapp\\.local._https._tcp.local"];
const SRV: DnsRecord = {
  name: "myapp\\.local._https._tcp.local",
  type: "SRV",
  priority: 0,
  weight: 0,
  port: 443,
  target: "myapp.local",
  ttl: 120,
  cacheFlush: true,
};

describe("contradictions (RFC 6762 §9)", () => {
  test("another host's address for our name is a conflict, in answers or additionals", () => {
    expect(contradictions(response([a("MYAPP.local", "192.168.1.99")]), NAMES, [], OWN)).toEqual([
      { name: "myapp.local", record: a("MYAPP.local", "192.168.1.99") },
    ]);
    expect(contradictions(response([], [a("myapp.local", "10.0.0.1")]), NAMES, [], OWN)).toHaveLength(1);
  });

  test("our own addresses (an echo, or avahi on this machine), goodbyes, shared PTRs and other names are not", () => {
    const ptr: DnsRecord = { name: "myapp.local", type: "PTR", target: "x.local", ttl: 120, cacheFlush: false };
    const records = [
      a("myapp.local", "192.168.1.20"),
      a("myapp.local", "10.9.9.9", 0),
      ptr,
      a("other.local", "10.0.0.1"),
    ];
    expect(contradictions(response(records), NAMES, [], OWN)).toEqual([]);
    const aaaa: DnsRecord = { name: "myapp.local", type: "AAAA", address: "fd00:0::20", ttl: 120, cacheFlush: true };
    expect(contradictions(response([aaaa]), NAMES, [], OWN)).toEqual([]);
  });

  test("an identical SRV is no conflict; one pointing elsewhere is", () => {
    expect(contradictions(response([SRV]), NAMES, [SRV], OWN)).toEqual([]);
    expect(contradictions(response([{ ...SRV, port: 8443 }]), NAMES, [SRV], OWN)).toHaveLength(1);
  });
});

describe("simultaneous probe tie-break (§8.2)", () => {
  test("the lexicographically later rdata wins; identical data ties; more records win a common prefix", () => {
    expect(tieBreak([a("x.local", "10.0.0.2")], [a("x.local", "10.0.0.1")])).toBe("win");
    expect(tieBreak([a("x.local", "10.0.0.1")], [a("x.local", "10.0.0.2")])).toBe("lose");
    expect(tieBreak([a("x.local", "10.0.0.1")], [a("x.local", "10.0.0.1")])).toBe("tie");
    const two = [a("x.local", "10.0.0.1"), a("x.local", "10.0.0.3")];
    expect(tieBreak(two, [a("x.local", "10.0.0.1")])).toBe("win");
    // Records are sorted before comparing, so order on the wire does not matter.
    expect(tieBreak([...two].reverse(), [a("x.local", "10.0.0.1"), a("x.local", "10.0.0.4")])).toBe("lose");
  });

  test("a higher type number beats any rdata (AAAA > A)", () => {
    const aaaa: DnsRecord = { name: "x.local", type: "AAAA", address: "::1", ttl: 120, cacheFlush: false };
    expect(tieBreak([aaaa], [a("x.local", "255.255.255.255")])).toBe("win");
  });

  test("competing probes are grouped by the names we claim", () => {
    const probe: DnsMessage = {
      ...response([]),
      flags: 0,
      authorities: [a("MyApp.local", "10.0.0.9"), a("b.local", "1.1.1.1")],
    };
    expect([...competingProbe(probe, NAMES)]).toEqual([["myapp.local", [a("MyApp.local", "10.0.0.9")]]]);
  });
});
