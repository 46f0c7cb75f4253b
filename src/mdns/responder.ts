/**
 * The in-process mDNS responder for gotunnel's `.local` routes (RFC 6762) with a DNS-SD service per route
 * (RFC 6763). Per route it probes (§8.1), announces (§8.3), answers queries on the interface they arrived on
 * (§6; legacy unicast §6.7), follows interface and address changes by polling, detects other hosts claiming the
 * same name (§8.2, §9) and says goodbye (§10.1) when a route or the responder stops.
 *
 * Built on our own codec (wire.ts) and node:dgram (transport.ts), not a package: `mdns-server` 1.0.11
 * sends from a random port (§6 requires 5353; avahi ignores such answers), cannot send a unicast reply, and labels
 * packets with the wrong interface when there are several; `multicast-dns` sends from 5353 but multicasts on a
 * single interface and, through dns-packet, cannot see the QU bit. Neither knows the interface a query came in on.
 */
import { networkInterfaces } from "node:os";
import { answerQuery, legacyResponse, mdnsResponse, responsePackets } from "./answer.ts";
import { addressGoodbyePackets, announcementPackets, goodbyePackets, probePackets, probeRecords } from "./claims.ts";
import { competingProbe, contradictions, tieBreak } from "./conflict.ts";
import { decodeMessage } from "./decode.ts";
import {
  advertisedAddresses,
  allAddresses,
  diffInterfaces,
  hasChanges,
  interfaceFor,
  lanInterfaces,
  type NetInterface,
  snapshotInterfaces,
} from "./interfaces.ts";
import { asciiLower, sameName } from "./names.ts";
import { type Advert, advertsFor, instanceRecords, type MdnsRoute, uniqueNames } from "./records.ts";
import { MDNS_PORT, openTransport, type Transport } from "./transport.ts";
import {
  DEFAULT_INTERFACE_POLL_MS,
  type MdnsConflict,
  type MdnsEvent,
  type MdnsResponder,
  type StartMdnsOptions,
} from "./types.ts";
import { type DnsMessage, encodeMessage, isResponse } from "./wire.ts";

/** §8.1: three probes 250 ms apart, the first after a random delay of up to 250 ms. */
const PROBE_COUNT = 3;
const PROBE_INTERVAL_MS = 250;
/** §8.3: at least two announcements, one second apart. */
const ANNOUNCE_COUNT = 2;
const ANNOUNCE_INTERVAL_MS = 1000;
/** §6: a response with shared records waits 20–120 ms, so answers from several hosts can be aggregated. */
const SHARED_DELAY_MIN_MS = 20;
const SHARED_DELAY_SPREAD_MS = 100;
/** §8.2: the loser of a simultaneous probe tie-break waits one second and probes again. */
const TIE_BREAK_RETRY_MS = 1000;

type State = "probing" | "announced" | "conflict";
interface Entry {
  advert: Advert;
  state: State;
  /** Bumped whenever a running probe/announce sequence for this entry must stop. */
  epoch: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const keyOf = (advert: Advert) => asciiLower(advert.host);

export async function startMdns(options: StartMdnsOptions): Promise<MdnsResponder> {
  const responder = new Responder(options);
  await responder.start();
  return responder;
}

class Responder implements MdnsResponder {
  private readonly entries = new Map<string, Entry>();
  private readonly found: MdnsConflict[] = [];
  private ifaces: NetInterface[] = [];
  private transport: Transport | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;

  constructor(private readonly options: StartMdnsOptions) {}

  get conflicts(): readonly MdnsConflict[] {
    return this.found;
  }

  get names(): string[] {
    return [...this.entries.values()].filter((entry) => entry.state === "announced").map((entry) => entry.advert.host);
  }

  async start(): Promise<void> {
    this.ifaces = this.readInterfaces();
    const open = this.options.openTransport ?? openTransport;
    this.transport = await open({
      onMessage: (datagram) => this.receive(datagram.data, datagram.address, datagram.port),
      onWarning: (message, error) => this.emit({ type: "warning", message, error: String(error) }),
    });
    this.transport.join(this.ifaces);
    this.timer = setInterval(() => this.poll(), this.options.interfacePollMs ?? DEFAULT_INTERFACE_POLL_MS);
    this.timer.unref?.();
    await this.update(this.options.routes);
  }

  async update(routes: readonly MdnsRoute[]): Promise<void> {
    if (this.stopped) return;
    const { httpsPort, httpPort, lan } = this.options;
    const next = new Map(
      advertsFor(routes, { https: httpsPort, http: httpPort }, lan ?? true).map((a) => [keyOf(a), a]),
    );
    const leaving: Entry[] = [];
    for (const [key, entry] of this.entries) {
      if (JSON.stringify(next.get(key)) === JSON.stringify(entry.advert)) continue;
      entry.epoch++;
      this.entries.delete(key);
      if (entry.state === "announced") leaving.push(entry);
    }
    await this.sendGoodbyes(leaving.map((entry) => entry.advert));
    const fresh: Entry[] = [];
    for (const [key, advert] of next) {
      if (this.entries.has(key)) continue;
      fresh.push({ advert, state: "probing", epoch: 0 });
      this.entries.set(key, fresh[fresh.length - 1]!);
    }
    if (fresh.length > 0) this.claim(fresh, lanInterfaces(this.ifaces));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    clearInterval(this.timer);
    // Running probe/announce sequences stop here, so nothing is announced after its goodbye.
    for (const entry of this.entries.values()) entry.epoch++;
    const announced = [...this.entries.values()].filter((entry) => entry.state === "announced");
    await this.sendGoodbyes(announced.map((entry) => entry.advert));
    this.stopped = true;
    this.entries.clear();
    await this.transport?.close();
  }

  private live(entry: Entry, epoch: number): boolean {
    return !this.stopped && entry.epoch === epoch && this.entries.get(keyOf(entry.advert)) === entry;
  }

  /** Probe, then announce, `entries` on `ifaces`; runs in the background and reports through events. */
  private claim(entries: Entry[], ifaces: NetInterface[]): void {
    this.sequence(entries, ifaces).catch((error: unknown) =>
      this.emit({ type: "warning", message: "mDNS probe/announce failed", error: String(error) }),
    );
  }

  private async sequence(entries: Entry[], ifaces: NetInterface[]): Promise<void> {
    const runs = entries.map((entry) => ({ entry, epoch: entry.epoch }));
    const current = () => runs.filter(({ entry, epoch }) => this.live(entry, epoch)).map(({ entry }) => entry);
    const names = new Set(ifaces.map((iface) => iface.name));
    // The latest snapshot of those interfaces: an address that changed mid-sequence must not be announced again.
    const links = () => lanInterfaces(this.ifaces).filter((iface) => names.has(iface.name));
    await sleep(Math.random() * PROBE_INTERVAL_MS);
    for (let probe = 0; probe < PROBE_COUNT && current().length > 0; probe++) {
      // §8.1: the first probe asks for unicast replies (QU), so a defender answers us directly.
      for (const iface of links()) {
        const adverts = current().map((entry) => entry.advert);
        await this.multicast(probePackets(adverts, advertisedAddresses(iface), probe === 0), iface);
      }
      await sleep(PROBE_INTERVAL_MS);
    }
    for (const entry of current()) entry.state = "announced";
    for (let round = 0; round < ANNOUNCE_COUNT && current().length > 0; round++) {
      if (round > 0) await sleep(ANNOUNCE_INTERVAL_MS);
      const adverts = current().map((entry) => entry.advert);
      for (const iface of links())
        await this.multicast(announcementPackets(adverts, advertisedAddresses(iface)), iface);
      const hosts = adverts.map((advert) => advert.host);
      if (round === 0 && hosts.length > 0) this.emit({ type: "announced", names: hosts, interfaces: [...names] });
    }
  }

  private async sendGoodbyes(leaving: Advert[]): Promise<void> {
    if (leaving.length === 0 || this.stopped) return;
    const remaining = [...this.entries.values()].filter((e) => e.state === "announced").map((e) => e.advert);
    for (const iface of lanInterfaces(this.ifaces)) {
      await this.multicast(goodbyePackets(leaving, remaining, advertisedAddresses(iface)), iface);
    }
    this.emit({ type: "goodbye", names: leaving.map((advert) => advert.host) });
  }

  private async multicast(packets: Uint8Array[], iface: NetInterface): Promise<void> {
    for (const packet of packets) if (!this.stopped) await this.transport?.sendMulticast(packet, iface);
  }

  private receive(data: Uint8Array, from: string, port: number): void {
    let message: DnsMessage;
    try {
      message = decodeMessage(data);
    } catch (error) {
      // Malformed packets are routine on a busy link; they are dropped and reported, never answered.
      this.emit({ type: "ignored", from, reason: String(error) });
      return;
    }
    const iface = interfaceFor(this.ifaces, from);
    if (!iface) return;
    // §6: responses from a port other than 5353 are not mDNS responses and MUST be ignored.
    if (isResponse(message)) {
      if (port === MDNS_PORT) this.checkResponse(message, from);
      return;
    }
    if (message.authorities.length > 0) this.checkProbe(message, iface);
    this.answer(message, iface, from, port);
  }

  private answer(query: DnsMessage, iface: NetInterface, from: string, port: number): void {
    const active = [...this.entries.values()].filter((entry) => entry.state === "announced").map((e) => e.advert);
    const answer = answerQuery(query, active, advertisedAddresses(iface));
    if (!answer || !this.transport) return;
    if (port !== MDNS_PORT) {
      void this.transport.sendUnicast(encodeMessage(legacyResponse(query, answer)), from, port);
    } else if (answer.unicast || iface.internal) {
      void this.transport.sendUnicast(encodeMessage(mdnsResponse(answer)), from, port);
    } else {
      const delay = answer.shared ? SHARED_DELAY_MIN_MS + Math.random() * SHARED_DELAY_SPREAD_MS : 0;
      const send = () => this.multicast(responsePackets(answer.answers, answer.additionals), iface);
      if (delay === 0) void send();
      else setTimeout(send, delay);
    }
  }

  /** §9: another host's response claims one of our names with other data. */
  private checkResponse(response: DnsMessage, from: string): void {
    const claimed = [...this.entries.values()].filter((entry) => entry.state !== "conflict");
    const names = claimed.flatMap((entry) => uniqueNames(entry.advert));
    const ours = claimed.flatMap((entry) => instanceRecords(entry.advert));
    const hits = contradictions(response, names, ours, allAddresses(this.ifaces));
    const losers = new Set(
      hits.map((hit) => claimed.find((e) => uniqueNames(e.advert).some((n) => sameName(n, hit.name)))),
    );
    for (const entry of losers) if (entry) this.lose(entry, from);
  }

  /** §8.1: a conflict while probing means the name is taken; after announcing, §9 says probe again first. */
  private lose(entry: Entry, from: string): void {
    entry.epoch++;
    if (entry.state === "announced") {
      entry.state = "probing";
      this.claim([entry], lanInterfaces(this.ifaces));
      return;
    }
    entry.state = "conflict";
    this.found.push({ name: entry.advert.host, from, at: new Date() });
    this.emit({ type: "conflict", name: entry.advert.host, from });
  }

  /** §8.2: another host probes for a name we are probing too; the lexicographically later data wins. */
  private checkProbe(query: DnsMessage, iface: NetInterface): void {
    const probing = [...this.entries.values()].filter((entry) => entry.state === "probing");
    const theirs = competingProbe(
      query,
      probing.flatMap((entry) => uniqueNames(entry.advert)),
    );
    for (const entry of probing) {
      const ours = probeRecords(entry.advert, advertisedAddresses(iface));
      const mine = (name: string) => ours.filter((record) => sameName(record.name, name));
      const claims = [...theirs].filter(([name]) => uniqueNames(entry.advert).some((n) => sameName(n, name)));
      if (!claims.some(([name, records]) => tieBreak(mine(name), records) === "lose")) continue;
      entry.epoch++;
      const retry = () =>
        this.entries.get(keyOf(entry.advert)) === entry && this.claim([entry], lanInterfaces(this.ifaces));
      setTimeout(retry, TIE_BREAK_RETRY_MS);
    }
  }

  /** Interface and address changes: goodbye for lost addresses, then probe and announce where the link changed. */
  private poll(): void {
    const next = this.readInterfaces();
    const changes = diffInterfaces(this.ifaces, next);
    if (!hasChanges(changes) || this.stopped) return;
    const before = this.ifaces;
    this.ifaces = next;
    this.transport?.join(next);
    this.emit({ type: "interfaces", ...changes });
    const announced = [...this.entries.values()].filter((entry) => entry.state === "announced");
    const adverts = announced.map((entry) => entry.advert);
    for (const name of changes.changed) {
      const [old, now] = [before, next].map((list) => list.find((iface) => iface.name === name));
      if (!old || !now) continue;
      const [was, is] = [advertisedAddresses(old), advertisedAddresses(now)];
      const lost = { v4: was.v4.filter((a) => !is.v4.includes(a)), v6: was.v6.filter((a) => !is.v6.includes(a)) };
      void this.multicast(addressGoodbyePackets(adverts, lost), now);
    }
    const touched = lanInterfaces(next).filter(
      (i) => changes.added.includes(i.name) || changes.changed.includes(i.name),
    );
    if (announced.length > 0 && touched.length > 0) this.claim(announced, touched);
  }

  private readInterfaces(): NetInterface[] {
    return snapshotInterfaces((this.options.networkInterfaces ?? networkInterfaces)());
  }

  private emit(event: MdnsEvent): void {
    this.options.onEvent?.(event);
  }
}
