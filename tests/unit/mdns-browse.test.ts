import { describe, expect, test } from "bun:test";
import type { NetworkInterfaceInfo } from "node:os";
import { parseTimeout } from "../../src/cli/discover.ts";
import { assembleServices, discoverServices, followUpQuestions } from "../../src/mdns/browse.ts";
import { decodeMessage } from "../../src/mdns/decode.ts";
import type { OpenTransport } from "../../src/mdns/transport.ts";
import { type DnsRecord, encodeMessage, TYPE } from "../../src/mdns/wire.ts";

const TYPE_NAME = "_https._tcp.local";
const base = { ttl: 10, cacheFlush: false };
const ptr = (target: string): DnsRecord => ({ ...base, name: TYPE_NAME, type: "PTR", target });
const srv = (name: string, target: string, port: number): DnsRecord => ({
  ...base,
  name,
  type: "SRV",
  priority: 0,
  weight: 0,
  port,
  target,
});

describe("assembleServices", () => {
  test("joins PTR → SRV/TXT → A/AAAA per instance, sorted, and builds the URL", () => {
    const records: DnsRecord[] = [
      ptr("Peer Web._https._tcp.local"),
      ptr("myapp\\.local._https._tcp.local"),
      srv("myapp\\.local._https._tcp.local", "myapp.local", 8443),
      { ...base, name: "myapp\\.local._https._tcp.local", type: "TXT", entries: ["path=/", "gotunnel=1", "path=/x"] },
      { ...base, name: "myapp.local", type: "A", address: "10.0.0.5" },
      { ...base, name: "MyApp.local", type: "AAAA", address: "fd00::5" },
      { ...base, name: "myapp.local", type: "A", address: "10.0.0.5" },
      srv("Peer Web._https._tcp.local", "peer.local", 443),
      { ...base, name: "Peer Web._https._tcp.local", type: "TXT", entries: ["path=/admin", "Secure"] },
    ];
    expect(assembleServices(TYPE_NAME, records)).toEqual([
      {
        name: "myapp.local",
        type: "_https._tcp",
        host: "myapp.local",
        port: 8443,
        addresses: ["10.0.0.5", "fd00::5"],
        txt: { path: "/", gotunnel: "1" },
        url: "https://myapp.local:8443/",
        gotunnel: true,
      },
      {
        name: "Peer Web",
        type: "_https._tcp",
        host: "peer.local",
        port: 443,
        addresses: [],
        txt: { path: "/admin", secure: "" },
        url: "https://peer.local/admin",
        gotunnel: false,
      },
    ]);
  });

  test("an instance seen only by its PTR is listed without a URL, and its SRV/TXT are asked for next", () => {
    const records = [
      ptr("lonely._https._tcp.local"),
      srv("known._https._tcp.local", "k.local", 443),
      ptr("known._https._tcp.local"),
    ];
    expect(assembleServices(TYPE_NAME, records).map((s) => [s.name, s.url])).toEqual([
      ["known", "https://k.local/"],
      ["lonely", undefined],
    ]);
    expect(followUpQuestions(TYPE_NAME, records)).toEqual([
      { name: "known._https._tcp.local", type: TYPE.TXT, unicastResponse: false },
      { name: "k.local", type: TYPE.A, unicastResponse: false },
      { name: "k.local", type: TYPE.AAAA, unicastResponse: false },
      { name: "lonely._https._tcp.local", type: TYPE.SRV, unicastResponse: false },
      { name: "lonely._https._tcp.local", type: TYPE.TXT, unicastResponse: false },
    ]);
  });

  test("_http._tcp services get http:// URLs", () => {
    const records = [
      { ...ptr("a._http._tcp.local"), name: "_http._tcp.local" },
      srv("a._http._tcp.local", "a.local", 8080),
    ];
    expect(assembleServices("_http._tcp.local", records)[0]?.url).toBe("http://a.local:8080/");
  });
});

describe("discoverServices over a fake link", () => {
  test("asks for PTR from an ephemeral port, follows up on what is missing, and assembles the answers", async () => {
    const asked: { iface: string; questions: string[] }[] = [];
    let ports: (number | undefined)[] = [];
    const open: OpenTransport = async (options) => {
      ports = [...ports, options.port];
      const reply = (records: DnsRecord[]) => {
        const message = { id: 0, flags: 0x8400, questions: [], answers: records, authorities: [], additionals: [] };
        options.onMessage({ data: encodeMessage(message), address: "192.168.1.9", port: 5353 });
      };
      return {
        join: () => {},
        sendMulticast: async (packet, iface) => {
          const questions = decodeMessage(packet).questions.map((q) => `${q.name}/${q.type}`);
          asked.push({ iface: iface.name, questions });
          // The responder answers the PTR alone; SRV and the address come only when asked again.
          if (questions[0] === `${TYPE_NAME}/${TYPE.PTR}`) reply([ptr("a._https._tcp.local")]);
          else
            reply([
              srv("a._https._tcp.local", "a.local", 443),
              { ...base, name: "a.local", type: "A", address: "192.168.1.9" },
            ]);
          options.onMessage({ data: Uint8Array.of(1), address: "192.168.1.66", port: 5353 });
        },
        sendUnicast: async () => {},
        close: async () => {},
      };
    };
    const lan: NetworkInterfaceInfo = {
      address: "192.168.1.20",
      netmask: "255.255.255.0",
      family: "IPv4",
      mac: "",
      internal: false,
      cidr: null,
    };
    const warnings: string[] = [];
    const services = await discoverServices({
      timeoutMs: 60,
      networkInterfaces: () => ({ wlan0: [lan] }),
      openTransport: open,
      onWarning: (message) => warnings.push(message),
    });
    expect(ports).toEqual([0]);
    expect(asked[0]).toEqual({ iface: "wlan0", questions: [`${TYPE_NAME}/${TYPE.PTR}`] });
    expect(asked[1]?.questions).toEqual([`a._https._tcp.local/${TYPE.SRV}`, `a._https._tcp.local/${TYPE.TXT}`]);
    expect(services).toMatchObject([
      { name: "a", url: "https://a.local/", addresses: ["192.168.1.9"], gotunnel: false },
    ]);
    expect(warnings[0]).toContain("skipped a malformed mDNS reply");
  });
});

describe("discover --timeout", () => {
  test.each([
    ["3s", 3000],
    ["1500ms", 1500],
    ["2", 2000],
    ["0.5s", 500],
  ])("%s → %d ms", (input, ms) => {
    expect(parseTimeout(input)).toBe(ms);
  });

  test.each(["0", "-1s", "3m", "", "61s"])("%j is a usage error", (input) => {
    expect(() => parseTimeout(input)).toThrow(/--timeout expects a duration/);
  });
});
