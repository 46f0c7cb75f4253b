/**
 * The responder's lifecycle over an in-memory link (the transport seam): no sockets. What goes out on which
 * interface, in what order, and how it reacts to queries, conflicts and interface changes. The real link, with
 * avahi and dig, is tests/integration/mdns-netns.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { NetworkInterfaceInfo } from "node:os";
import { decodeMessage } from "../../src/mdns/decode.ts";
import type { RawInterfaces } from "../../src/mdns/interfaces.ts";
import { startMdns } from "../../src/mdns/responder.ts";
import type { Datagram, OpenTransport } from "../../src/mdns/transport.ts";
import type { MdnsEvent, MdnsResponder } from "../../src/mdns/types.ts";
import { type DnsMessage, type DnsRecord, encodeMessage, TYPE } from "../../src/mdns/wire.ts";

interface Sent {
  to: string;
  message: DnsMessage;
}

function info(address: string, netmask: string): NetworkInterfaceInfo {
  return { address, netmask, family: "IPv4", mac: "00:00:00:00:00:00", internal: false, cidr: null };
}

function fakeLink() {
  const sent: Sent[] = [];
  const events: MdnsEvent[] = [];
  let deliver: ((datagram: Datagram) => void) | undefined;
  const open: OpenTransport = async (options) => {
    deliver = options.onMessage;
    return {
      join: () => {},
      sendMulticast: async (packet, iface) => void sent.push({ to: iface.name, message: decodeMessage(packet) }),
      sendUnicast: async (packet, address, port) =>
        void sent.push({ to: `${address}:${port}`, message: decodeMessage(packet) }),
      close: async () => {},
    };
  };
  return {
    sent,
    events,
    open,
    receive(message: DnsMessage | Uint8Array, address: string, port = 5353) {
      const data = message instanceof Uint8Array ? message : encodeMessage(message);
      deliver?.({ data, address, port });
    },
    /** Both §8.3 announcements on every interface: nothing unsolicited is pending after this. */
    async announced(interfaces: number): Promise<void> {
      for (let i = 0; i < 200; i++) {
        const rounds = sent.filter((s) => s.message.flags === 0x8400 && s.message.answers[0]?.ttl !== 0);
        if (rounds.length >= 2 * interfaces) return;
        await Bun.sleep(25);
      }
      throw new Error(`announcements not sent: ${JSON.stringify(sent)}`);
    },
    async waitFor(type: MdnsEvent["type"], from = 0): Promise<MdnsEvent> {
      for (let i = 0; i < 100; i++) {
        const found = events.slice(from).find((event) => event.type === type);
        if (found) return found;
        await Bun.sleep(25);
      }
      throw new Error(`no ${type} event; got ${JSON.stringify(events)}`);
    },
  };
}

const RAW: RawInterfaces = {
  wlan0: [info("192.168.1.20", "255.255.255.0")],
  eth0: [info("10.0.0.5", "255.255.0.0")],
};
const query = (name: string, type: number = TYPE.A, id = 0): DnsMessage => ({
  id,
  flags: 0,
  questions: [{ name, type, unicastResponse: false }],
  answers: [],
  authorities: [],
  additionals: [],
});
const addresses = (records: DnsRecord[]) => records.flatMap((r) => (r.type === "A" ? [r.address] : []));

describe("startMdns over a fake link", () => {
  const link = fakeLink();
  let responder: MdnsResponder;

  beforeAll(async () => {
    responder = await startMdns({
      routes: [{ name: "myapp.local" }, { name: "other.local" }, { name: "x.test" }],
      httpsPort: 443,
      onEvent: (event) => link.events.push(event),
      networkInterfaces: () => RAW,
      openTransport: link.open,
    });
    // The second announcement (§8.3) comes a second later; waiting for it keeps it out of the tests' windows.
    await link.announced(2);
  });

  afterAll(() => responder.stop());

  test("probes three times per interface (the first QU), then announces with that interface's address", () => {
    const probes = link.sent.filter((s) => s.message.questions.length > 0 && s.to === "wlan0");
    expect(probes.map((p) => p.message.questions[0]?.unicastResponse)).toEqual([true, false, false]);
    expect(probes[0]?.message.questions.map((q) => q.name)).toContain("myapp.local");
    const announcement = link.sent.find((s) => s.to === "eth0" && s.message.flags === 0x8400);
    expect(addresses(announcement!.message.answers)).toEqual(["10.0.0.5", "10.0.0.5"]);
    expect(responder.names).toEqual(["myapp.local", "other.local"]);
  });

  test("a multicast query is answered on the interface it came from, with that interface's address", async () => {
    const from = link.sent.length;
    link.receive(query("myapp.local"), "10.0.3.3");
    await Bun.sleep(20);
    const reply = link.sent.slice(from);
    expect(reply.map((s) => s.to)).toEqual(["eth0"]);
    expect(addresses(reply[0]!.message.answers)).toEqual(["10.0.0.5"]);
  });

  test("a legacy query (source port ≠ 5353) gets a unicast reply to that port: id echoed, TTL ≤ 10 (§6.7)", async () => {
    const from = link.sent.length;
    link.receive(query("myapp.local", TYPE.A, 4242), "192.168.1.77", 40000);
    await Bun.sleep(20);
    const [reply] = link.sent.slice(from);
    expect(reply?.to).toBe("192.168.1.77:40000");
    expect(reply?.message).toMatchObject({ id: 4242, questions: [{ name: "myapp.local" }] });
    expect(reply?.message.answers).toEqual([
      { name: "myapp.local", type: "A", address: "192.168.1.20", ttl: 10, cacheFlush: false },
    ]);
  });

  test("off-link sources (§11), non-.local routes and malformed packets get no answer", async () => {
    const from = link.sent.length;
    link.receive(query("myapp.local"), "8.8.8.8");
    link.receive(query("x.test"), "192.168.1.77");
    link.receive(Uint8Array.of(1, 2, 3), "192.168.1.77");
    await Bun.sleep(150);
    expect(link.sent.slice(from)).toEqual([]);
    expect(link.events.at(-1)).toMatchObject({ type: "ignored", from: "192.168.1.77" });
  });

  test("dropping a route sends its goodbye (TTL 0) on every interface (§10.1)", async () => {
    const from = link.sent.length;
    await responder.update([{ name: "myapp.local" }]);
    const byes = link.sent.slice(from);
    expect(byes.map((s) => s.to).sort()).toEqual(["eth0", "wlan0"]);
    for (const bye of byes) {
      expect(bye.message.answers.every((r) => r.ttl === 0)).toBe(true);
      expect(bye.message.answers.some((r) => r.name === "other.local")).toBe(true);
      expect(bye.message.answers.some((r) => r.name === "myapp.local")).toBe(false);
    }
    expect(responder.names).toEqual(["myapp.local"]);
  });

  test("stop() says goodbye for what is left", async () => {
    const from = link.sent.length;
    await responder.stop();
    const byes = link.sent.slice(from);
    expect(byes.length).toBe(2);
    expect(byes.flatMap((s) => s.message.answers).every((r) => r.ttl === 0)).toBe(true);
    expect(link.events.at(-1)).toEqual({ type: "goodbye", names: ["myapp.local"] });
  });
});

describe("conflicts and interface changes", () => {
  test("another host answering for the name while we probe is a conflict: reported, never announced", async () => {
    const link = fakeLink();
    const responder = await startMdns({
      routes: [{ name: "taken.local" }],
      httpsPort: 443,
      onEvent: (event) => link.events.push(event),
      networkInterfaces: () => RAW,
      openTransport: link.open,
    });
    const theirs: DnsRecord = { name: "taken.local", type: "A", address: "192.168.1.9", ttl: 120, cacheFlush: true };
    // A response from another port is not an mDNS response (§6): ignored.
    link.receive({ ...query("x"), flags: 0x8400, questions: [], answers: [theirs] }, "192.168.1.9", 40000);
    link.receive({ ...query("x"), flags: 0x8400, questions: [], answers: [theirs] }, "192.168.1.9");
    expect(await link.waitFor("conflict")).toEqual({ type: "conflict", name: "taken.local", from: "192.168.1.9" });
    await Bun.sleep(1100);
    expect(link.events.some((event) => event.type === "announced")).toBe(false);
    expect(responder.conflicts).toMatchObject([{ name: "taken.local", from: "192.168.1.9" }]);
    expect(responder.names).toEqual([]);
    await responder.stop();
  });

  test("losing a simultaneous probe tie-break (§8.2) defers our probing by a second, then we claim the name", async () => {
    const link = fakeLink();
    const responder = await startMdns({
      routes: [{ name: "both.local" }],
      httpsPort: 443,
      onEvent: (event) => link.events.push(event),
      networkInterfaces: () => ({ wlan0: RAW.wlan0 }),
      openTransport: link.open,
    });
    // Their proposed address sorts after ours (192.168.1.20), so they win.
    const theirs: DnsRecord = { name: "both.local", type: "A", address: "192.168.1.99", ttl: 120, cacheFlush: false };
    link.receive({ ...query("both.local", TYPE.ANY), authorities: [theirs] }, "192.168.1.99");
    await Bun.sleep(1300);
    // Unhindered, we would have announced within 1 s of starting (≤ 250 ms delay + 3 probes 250 ms apart).
    expect(link.events.some((event) => event.type === "announced")).toBe(false);
    await link.waitFor("announced");
    await responder.stop();
  });

  test("a new address: goodbye for the old one, then probe and announce the new one on that interface", async () => {
    const link = fakeLink();
    let raw: RawInterfaces = RAW;
    const responder = await startMdns({
      routes: [{ name: "myapp.local" }],
      httpsPort: 443,
      onEvent: (event) => link.events.push(event),
      networkInterfaces: () => raw,
      openTransport: link.open,
      interfacePollMs: 30,
    });
    await link.announced(2);
    const from = link.events.length;
    const sentFrom = link.sent.length;
    raw = { ...RAW, wlan0: [info("192.168.1.21", "255.255.255.0")] };
    expect(await link.waitFor("interfaces", from)).toEqual({
      type: "interfaces",
      added: [],
      removed: [],
      changed: ["wlan0"],
    });
    await link.waitFor("announced", from);
    const after = link.sent.slice(sentFrom);
    expect(after.every((s) => s.to === "wlan0")).toBe(true);
    expect(after[0]?.message.answers).toEqual([
      { name: "myapp.local", type: "A", address: "192.168.1.20", ttl: 0, cacheFlush: true },
    ]);
    const announcement = after.find((s) => s.message.flags === 0x8400 && s.message.answers[0]?.ttl !== 0);
    expect(addresses(announcement!.message.answers)).toEqual(["192.168.1.21"]);
    await responder.stop();
  });
});
