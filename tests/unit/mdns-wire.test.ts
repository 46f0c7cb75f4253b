import { describe, expect, test } from "bun:test";
import { decodeMessage } from "../../src/mdns/decode.ts";
import { formatIPv6, parseIPv6 } from "../../src/mdns/ip.ts";
import { escapeLabel, instanceLabel, sameName, serviceTypeOf, splitLabels } from "../../src/mdns/names.ts";
import { type DnsMessage, type DnsRecord, encodeMessage, recordKey, TYPE, typeBitmap } from "../../src/mdns/wire.ts";

const hex = (text: string) => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ""), "hex"));
const empty: DnsMessage = { id: 0, flags: 0, questions: [], answers: [], authorities: [], additionals: [] };

describe("decodeMessage: bytes as other implementations send them", () => {
  test("a query as dig sends it: id, one question, QU bit clear", () => {
    // id 0x1234, RD, 1 question: myapp.local A IN
    const packet = hex("1234 0100 0001 0000 0000 0000 05 6d79617070 05 6c6f63616c 00 0001 0001");
    expect(decodeMessage(packet)).toEqual({
      id: 0x1234,
      flags: 0x0100,
      questions: [{ name: "myapp.local", type: TYPE.A, unicastResponse: false }],
      answers: [],
      authorities: [],
      additionals: [],
    });
  });

  test("the top bit of the class is QU in a question (RFC 6762 §18.12) and cache-flush in a record (§18.13)", () => {
    const packet = hex(
      "0000 8400 0001 0001 0000 0000 05 6d79617070 05 6c6f63616c 00 00ff 8001" +
        // answer: pointer to offset 12 (myapp.local), A, IN|flush, TTL 120, 4 bytes
        "c00c 0001 8001 00000078 0004 0a000001",
    );
    const message = decodeMessage(packet);
    expect(message.questions[0]).toEqual({ name: "myapp.local", type: TYPE.ANY, unicastResponse: true });
    expect(message.answers[0]).toEqual({
      name: "myapp.local",
      type: "A",
      address: "10.0.0.1",
      ttl: 120,
      cacheFlush: true,
    });
  });

  test("compression pointers are followed inside rdata (PTR, SRV targets)", () => {
    const packet = hex(
      "0000 8400 0000 0002 0000 0000" +
        // offset 12: _https._tcp.local PTR → (label "a b") + pointer to offset 12
        "06 5f6874747073 04 5f746370 05 6c6f63616c 00 000c 0001 00001194 0006 03 612062 c00c" +
        // SRV named by a pointer to the instance name (offset 41), target "myapp" + pointer to "local" (offset 24)
        "c029 0021 8001 00000078 000e 0000 0000 20fb 05 6d79617070 c018",
    );
    const [ptr, srv] = decodeMessage(packet).answers;
    expect(ptr).toMatchObject({ type: "PTR", target: "a b._https._tcp.local" });
    expect(srv).toMatchObject({ name: "a b._https._tcp.local", type: "SRV", port: 8443, target: "myapp.local" });
  });

  test.each([
    ["shorter than a header", "0000 8400 0000"],
    ["a question cut short", "0000 0000 0001 0000 0000 0000 05 6d7961"],
    ["a pointer to itself (a loop)", "0000 0000 0001 0000 0000 0000 c00c 0001 0001"],
    ["a pointer forwards", "0000 0000 0001 0000 0000 0000 c020 0001 0001"],
    ["rdata longer than the packet", "0000 8400 0000 0001 0000 0000 00 0001 0001 00000078 00ff 0a00"],
    ["a reserved label type", "0000 0000 0001 0000 0000 0000 40 00 0001 0001"],
  ])("rejects %s with a RangeError", (_, bytes) => {
    expect(() => decodeMessage(hex(bytes))).toThrow(RangeError);
  });
});

describe("encodeMessage ↔ decodeMessage", () => {
  const records: DnsRecord[] = [
    { name: "myapp.local", type: "A", address: "192.168.1.20", ttl: 120, cacheFlush: true },
    { name: "myapp.local", type: "AAAA", address: "fd00::1:2", ttl: 120, cacheFlush: true },
    { name: "_https._tcp.local", type: "PTR", target: "my\\.app._https._tcp.local", ttl: 4500, cacheFlush: false },
    {
      name: "my\\.app._https._tcp.local",
      type: "SRV",
      priority: 0,
      weight: 0,
      port: 8443,
      target: "myapp.local",
      ttl: 120,
      cacheFlush: true,
    },
    { name: "my\\.app._https._tcp.local", type: "TXT", entries: ["path=/", "gotunnel=1"], ttl: 4500, cacheFlush: true },
    { name: "myapp.local", type: "NSEC", next: "myapp.local", types: [TYPE.A], ttl: 120, cacheFlush: true },
    { name: "myapp.local", type: "OTHER", code: 13, rdata: Uint8Array.of(1, 2), ttl: 120, cacheFlush: false },
  ];

  test("every record type survives a round trip, including a dot inside an instance label", () => {
    const message = { ...empty, flags: 0x8400, answers: records };
    expect(decodeMessage(encodeMessage(message))).toEqual(message);
  });

  test("names are compressed: the second use of a suffix is a two-byte pointer", () => {
    const one = encodeMessage({ ...empty, answers: records.slice(0, 1) });
    const two = encodeMessage({ ...empty, answers: records.slice(0, 2) });
    // The AAAA record repeats "myapp.local": pointer (2) + type/class/ttl/len (10) + 16 address bytes.
    expect(two.length - one.length).toBe(2 + 10 + 16);
  });

  test("an empty TXT record is one zero-length string, and decodes back to no entries (RFC 6763 §6.1)", () => {
    const txt: DnsRecord = { name: "a.local", type: "TXT", entries: [], ttl: 1, cacheFlush: false };
    const bytes = encodeMessage({ ...empty, answers: [txt] });
    expect([...bytes.slice(-3)]).toEqual([0, 1, 0]);
    expect(decodeMessage(bytes).answers[0]).toEqual(txt);
  });

  test("QU and cache-flush bits are written", () => {
    const bytes = encodeMessage({ ...empty, questions: [{ name: "a.local", type: TYPE.A, unicastResponse: true }] });
    expect([...bytes.slice(-4)]).toEqual([0, 1, 0x80, 1]);
  });

  test("labels over 63 bytes and bad addresses are refused", () => {
    const long = { ...empty, questions: [{ name: `${"x".repeat(64)}.local`, type: 1, unicastResponse: false }] };
    expect(() => encodeMessage(long)).toThrow(RangeError);
    const bad: DnsRecord = { name: "a.local", type: "A", address: "300.1.1.1", ttl: 1, cacheFlush: false };
    expect(() => encodeMessage({ ...empty, answers: [bad] })).toThrow(RangeError);
  });
});

describe("NSEC type bit maps (RFC 4034 §4.1.2)", () => {
  test("A only, AAAA only, both", () => {
    expect(typeBitmap([TYPE.A])).toEqual([0, 1, 0x40]);
    expect(typeBitmap([TYPE.AAAA])).toEqual([0, 4, 0, 0, 0, 0x08]);
    expect(typeBitmap([TYPE.A, TYPE.AAAA])).toEqual([0, 4, 0x40, 0, 0, 0x08]);
    expect(typeBitmap([])).toEqual([0, 0]);
  });
});

describe("names", () => {
  test("escaped dots stay inside a label; comparison folds ASCII case only (RFC 6762 §16)", () => {
    expect(splitLabels("my\\.app._https._tcp.local")).toEqual(["my.app", "_https", "_tcp", "local"]);
    expect(escapeLabel("a.b\\c")).toBe("a\\.b\\\\c");
    expect(instanceLabel("my\\.app._https._tcp.local")).toBe("my.app");
    expect(serviceTypeOf("my\\.app._https._tcp.local")).toBe("_https._tcp.local");
    expect(sameName("MyApp.LOCAL.", "myapp.local")).toBe(true);
    expect(sameName("É.local", "é.local")).toBe(false);
  });

  test("record identity ignores name case and TTL but not data", () => {
    const a: DnsRecord = { name: "MyApp.local", type: "A", address: "10.0.0.1", ttl: 120, cacheFlush: true };
    expect(recordKey(a)).toBe(recordKey({ ...a, name: "myapp.local", ttl: 1 }));
    expect(recordKey(a)).not.toBe(recordKey({ ...a, address: "10.0.0.2" }));
  });
});

describe("IPv6 text", () => {
  test.each([
    ["fd00:0:0:0:0:0:1:2", "fd00::1:2"],
    ["FE80::1%eth0", "fe80::1"],
    ["::ffff:10.0.0.1", "::ffff:a00:1"],
    ["1:0:0:1:0:0:0:1", "1:0:0:1::1"],
    ["::", "::"],
  ])("%s → %s (RFC 5952)", (input, canonical) => {
    expect(formatIPv6(parseIPv6(input)!)).toBe(canonical);
  });

  test.each(["1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "g::1"])("%s is not an address", (input) => {
    expect(parseIPv6(input)).toBeUndefined();
  });
});
