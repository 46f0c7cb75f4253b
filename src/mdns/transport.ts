/**
 * The mDNS sockets (the only socket code in src/mdns), on node:dgram: one UDP socket per family bound to port
 * 5353, shared with any other responder on this machine (avahi, mDNSResponder; see socketOptions). Everything we send
 * leaves from that socket, so from source port 5353, which RFC 6762 §6 requires of responses (avahi drops answers
 * from any other port; the `mdns-server` package sends from a second, random-port socket, and so cannot be used as
 * shipped).
 *
 * Multicast loopback stays on: a responder on the same host (avahi answering `getent hosts myapp.local` through
 * nss-mdns) must see our announcements and answers. Our own packets then come back to us; they are recognised by
 * their bytes and dropped here, so the responder never mistakes itself for a conflicting host.
 */
import { createSocket, type Socket } from "node:dgram";
import { lanInterfaces, type NetInterface } from "./interfaces.ts";

export const MDNS_PORT = 5353;
/** RFC 6762 §3: the IPv4 and IPv6 link-local mDNS groups. */
export const MDNS_GROUP_V4 = "224.0.0.251";
export const MDNS_GROUP_V6 = "ff02::fb";
/** RFC 6762 §11: sent with IP TTL / hop limit 255, so receivers can tell on-link packets. */
const MULTICAST_TTL = 255;
/** How long a packet we sent is remembered, to drop its multicast loopback echo. */
const ECHO_WINDOW_MS = 5_000;

export interface Datagram {
  data: Uint8Array;
  address: string;
  port: number;
}

/** Opens the sockets; the responder takes this as a parameter so tests can give it an in-memory link instead. */
export type OpenTransport = (options: TransportOptions) => Promise<Transport>;

export interface TransportOptions {
  /**
   * MDNS_PORT (the default) for the responder. 0 for one-shot queries from an ephemeral port (RFC 6762 §5.1):
   * responders answer those with a unicast reply to that port (§6.7), so `discover` needs no shared port.
   */
  port?: number;
  onMessage: (datagram: Datagram) => void;
  /** Something failed that the responder survives (one family unavailable, a send on a vanished interface). */
  onWarning: (message: string, cause: unknown) => void;
}

export interface Transport {
  /** Joins the mDNS groups on every LAN interface in `ifaces` and leaves those no longer present. */
  join(ifaces: readonly NetInterface[]): void;
  /** Sends to the mDNS groups on one interface, over each family it has an address of. */
  sendMulticast(packet: Uint8Array, iface: NetInterface): Promise<void>;
  sendUnicast(packet: Uint8Array, address: string, port: number): Promise<void>;
  close(): Promise<void>;
}

interface Membership {
  v4: string | undefined;
  v6: boolean;
}

export async function openTransport(options: TransportOptions): Promise<Transport> {
  const echoes = new Map<string, number>();
  const receive = (data: Uint8Array, rinfo: { address: string; port: number }) => {
    const sentAt = echoes.get(Buffer.from(data).toString("base64"));
    if (sentAt !== undefined && Date.now() - sentAt < ECHO_WINDOW_MS) return;
    options.onMessage({ data, address: rinfo.address, port: rinfo.port });
  };
  const v4 = await bindSocket("udp4", receive, options);
  const v6 = await bindSocket("udp6", receive, options);
  if (!v4 && !v6) throw new Error(`could not bind UDP port ${options.port ?? MDNS_PORT} for IPv4 or IPv6`);
  return new DgramTransport(v4, v6, echoes, options);
}

async function bindSocket(
  type: "udp4" | "udp6",
  receive: (data: Uint8Array, rinfo: { address: string; port: number }) => void,
  options: TransportOptions,
): Promise<Socket | undefined> {
  const port = options.port ?? MDNS_PORT;
  const socket = createSocket(socketOptions(type, port));
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(port, type === "udp4" ? "0.0.0.0" : "::", () => {
        socket.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    options.onWarning(
      `mDNS over ${type === "udp4" ? "IPv4" : "IPv6"} is off: UDP port ${port} could not be bound`,
      error,
    );
    socket.close();
    return undefined;
  }
  socket.setMulticastTTL(MULTICAST_TTL);
  socket.setMulticastLoopback(true);
  socket.on("message", receive);
  socket.on("error", (error) => options.onWarning(`mDNS ${type} socket error`, error));
  return socket;
}

/**
 * How a socket shares its port. Linux: SO_REUSEADDR, which avahi-daemon sets too, lets every UDP socket that set it
 * bind 5353 and get each multicast datagram. macOS: mDNSResponder holds *:5353 with SO_REUSEPORT, and BSD lets
 * another socket bind the same address and port only when it sets SO_REUSEPORT as well. Bun's `reuseAddr` already
 * sets SO_REUSEPORT there (bun-usockets `bsd_set_reuseaddr`, as libuv does), but we ask for it by name so macOS
 * keeps working if that mapping changes. On BSD a unicast datagram to the shared port reaches only one socket
 * (the last bound), multicast reaches all: our responder answers by multicast, and `discover` queries from an
 * ephemeral port (port 0, no sharing), so neither depends on who gets unicast.
 */
export function socketOptions(type: "udp4" | "udp6", port: number, platform: NodeJS.Platform = process.platform) {
  const shared = port !== 0;
  return {
    type,
    reuseAddr: shared,
    ...(shared && platform === "darwin" ? { reusePort: true } : {}),
    ...(type === "udp6" ? { ipv6Only: true } : {}),
  };
}

class DgramTransport implements Transport {
  private readonly memberships = new Map<string, Membership>();
  /** Sends are serialised: the IPv4 outgoing interface is socket state, set just before each send. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly v4: Socket | undefined,
    private readonly v6: Socket | undefined,
    private readonly echoes: Map<string, number>,
    private readonly options: TransportOptions,
  ) {}

  join(ifaces: readonly NetInterface[]): void {
    const present = new Set<string>();
    for (const iface of lanInterfaces(ifaces)) {
      present.add(iface.name);
      const had = this.memberships.get(iface.name) ?? { v4: undefined, v6: false };
      const now = { v4: this.joinV4(iface, had.v4), v6: had.v6 || this.joinV6(iface) };
      this.memberships.set(iface.name, now);
    }
    for (const [name, membership] of this.memberships) {
      if (present.has(name)) continue;
      // The kernel drops a vanished interface's memberships itself; leaving is only for one that is still there.
      this.membershipCall(() => membership.v4 && this.v4?.dropMembership(MDNS_GROUP_V4, membership.v4), name);
      this.membershipCall(() => membership.v6 && this.v6?.dropMembership(MDNS_GROUP_V6, `::%${name}`), name);
      this.memberships.delete(name);
    }
  }

  /** IPv4 membership is keyed by an interface address; after an address change we join again through the new one. */
  private joinV4(iface: NetInterface, joinedVia: string | undefined): string | undefined {
    const address = iface.v4[0]?.address;
    if (!this.v4 || !address) return undefined;
    if (address === joinedVia) return joinedVia;
    return this.membershipCall(() => this.v4?.addMembership(MDNS_GROUP_V4, address), iface.name) ? address : joinedVia;
  }

  private joinV6(iface: NetInterface): boolean {
    if (!this.v6 || iface.v6.length === 0) return false;
    return this.membershipCall(() => this.v6?.addMembership(MDNS_GROUP_V6, `::%${iface.name}`), iface.name);
  }

  /** True when the call worked or the membership already existed (EADDRINUSE: same group, same interface). */
  private membershipCall(call: () => unknown, iface: string): boolean {
    try {
      call();
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === "EADDRINUSE") return true;
      this.options.onWarning(`mDNS group membership on ${iface} failed`, error);
      return false;
    }
  }

  sendMulticast(packet: Uint8Array, iface: NetInterface): Promise<void> {
    return this.enqueue(async () => {
      const address = iface.v4[0]?.address;
      if (this.v4 && address) {
        this.v4.setMulticastInterface(address);
        await this.sendOn(this.v4, packet, MDNS_GROUP_V4);
      }
      if (this.v6 && iface.v6.length > 0) {
        this.v6.setMulticastInterface(`::%${iface.name}`);
        await this.sendOn(this.v6, packet, `${MDNS_GROUP_V6}%${iface.name}`);
      }
    });
  }

  sendUnicast(packet: Uint8Array, address: string, port: number): Promise<void> {
    const socket = address.includes(":") ? this.v6 : this.v4;
    if (!socket) return Promise.resolve();
    return this.enqueue(() => this.sendOn(socket, packet, address, port));
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(task).catch((error: unknown) => this.options.onWarning("mDNS send failed", error));
    this.queue = run;
    return run;
  }

  private sendOn(socket: Socket, packet: Uint8Array, address: string, port = MDNS_PORT): Promise<void> {
    const now = Date.now();
    for (const [hash, at] of this.echoes) if (now - at >= ECHO_WINDOW_MS) this.echoes.delete(hash);
    this.echoes.set(Buffer.from(packet).toString("base64"), now);
    return new Promise((resolve, reject) =>
      socket.send(packet, port, address, (error) => (error ? reject(error) : resolve())),
    );
  }

  async close(): Promise<void> {
    await this.queue;
    for (const socket of [this.v4, this.v6]) socket?.close();
  }
}
