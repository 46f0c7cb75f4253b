/**
 * A wire with a delay, between two TUN devices: every IP packet read from one is written to the other `delay` later,
 * in order. Run as its own process by network.ts: `bun delay-line.ts <tunA> <tunB> <one-way ms>`.
 *
 * Why not `tc qdisc … netem delay`: this machine's kernel is built without sch_netem (CONFIG_NET_SCH_NETEM is not
 * set; `tc` answers "Specified qdisc kind is unknown"), and no other qdisc it has delays packets. So the link is
 * two TUN devices, one moved into the browser's network namespace, and this process in between does what netem
 * would: it holds each packet for the one-way delay. TCP on both ends is the kernels' own, so handshakes, slow start
 * and ACK clocking see a real round trip.
 *
 * TUN devices come from /dev/net/tun with ioctl(TUNSETIFF) (Linux Documentation/networking/tuntap.rst), through
 * bun:ffi since neither Bun nor node:fs has ioctl. The loop blocks in ppoll(2) until a packet arrives or the next one
 * is due, so it takes no CPU while idle. Closing stdin stops it; it then prints one JSON line of statistics: how
 * late packets left compared with their due time, which the report shows so a late wire cannot hide.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";

const libc = dlopen("libc.so.6", {
  open: { args: [FFIType.cstring, FFIType.i32], returns: FFIType.i32 },
  ioctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
  read: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64_fast },
  write: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64_fast },
  ppoll: { args: [FFIType.ptr, FFIType.u64, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
}).symbols;

// <linux/if_tun.h>, <linux/virtio_net.h>, <fcntl.h>, <poll.h>
const O_RDWR = 0o2;
const O_NONBLOCK = 0o4000;
const TUNSETIFF = 0x400454ca;
const TUNSETOFFLOAD = 0x400454d0;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
const IFF_VNET_HDR = 0x4000;
const TUN_F_CSUM = 0x01;
const TUN_F_TSO4 = 0x02;
const TUN_F_TSO6 = 0x04;
const IFREQ_BYTES = 40;
const IFR_FLAGS_OFFSET = 16;
const POLLIN = 0x1;
const POLLHUP = 0x10;
const POLLFD_BYTES = 8;

/** struct virtio_net_hdr, before every packet: its size is the default TUNSETVNETHDRSZ. */
const VNET_HDR_BYTES = 10;
/** A TSO packet is at most 64 KiB of IP, plus the header. */
const MAX_PACKET_BYTES = 65_536 + VNET_HDR_BYTES;
/** Bytes held per direction: at 1 Gbit/s, 2.5 ms is 312 KiB on the wire; room for far more. */
const RING_BYTES = 32 * 2 ** 20;
/** Packets held per direction (most are ACKs of a few dozen bytes). */
const RING_PACKETS = 16_384;
const LATENESS_BUCKET_US = 10;
const LATENESS_BUCKETS = 1000;

/**
 * A TUN device with offloads, as virtio-net does for a VM: the kernel hands over TCP segments of up to 64 KiB (TSO)
 * with a virtio_net_hdr saying how to cut them, and accepts them that way on the other device. TCP still runs with
 * the link's 1500-byte MTU (its MSS, congestion window and ACKs are per 1448-byte segment), but the delay line
 * handles one record per burst instead of one per segment, as netem on a veth pair would (veth passes GSO packets).
 */
function openTun(name: string): number {
  const fd = libc.open(Buffer.from(`/dev/net/tun\0`), O_RDWR | O_NONBLOCK);
  if (fd < 0) throw new Error("cannot open /dev/net/tun (needs root and the tun module)");
  const ifreq = new Uint8Array(IFREQ_BYTES);
  ifreq.set(new TextEncoder().encode(name));
  new DataView(ifreq.buffer).setUint16(IFR_FLAGS_OFFSET, IFF_TUN | IFF_NO_PI | IFF_VNET_HDR, true);
  if (libc.ioctl(fd, TUNSETIFF, ptr(ifreq)) < 0) throw new Error(`ioctl(TUNSETIFF, ${name}) failed`);
  if (libc.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) {
    throw new Error(`ioctl(TUNSETOFFLOAD, ${name}) failed`);
  }
  return fd;
}

/**
 * Packets waiting for their due time, oldest first (a constant delay keeps them in arrival order): their bytes in
 * one ring buffer, each record where the previous ended or, when a largest packet would not fit before the end, at
 * the start again.
 */
class Ring {
  readonly bytes = new Uint8Array(RING_BYTES);
  readonly base = ptr(this.bytes);
  readonly offsets = new Int32Array(RING_PACKETS);
  readonly lengths = new Int32Array(RING_PACKETS);
  readonly dueNs = new Float64Array(RING_PACKETS);
  head = 0;
  tail = 0;
  write = 0;
  relayed = 0;
  full = 0;

  get empty(): boolean {
    return this.head === this.tail;
  }

  /** Where the next packet can be read to, or -1 when the ring is full. */
  room(): number {
    if (this.empty) return 0;
    if ((this.tail + 1) % RING_PACKETS === this.head) return -1;
    const oldest = this.offsets[this.head] as number;
    if (this.write >= oldest) {
      if (this.write + MAX_PACKET_BYTES <= RING_BYTES) return this.write;
      return MAX_PACKET_BYTES <= oldest ? 0 : -1;
    }
    return this.write + MAX_PACKET_BYTES <= oldest ? this.write : -1;
  }

  push(offset: number, length: number, dueNs: number): void {
    this.offsets[this.tail] = offset;
    this.lengths[this.tail] = length;
    this.dueNs[this.tail] = dueNs;
    this.write = offset + length;
    this.tail = (this.tail + 1) % RING_PACKETS;
  }
}

interface Stats {
  relayed: number[];
  /** Times a direction's ring was full and reading paused. */
  full: number[];
  latenessUs: { p50: number; p99: number; max: number };
}

/** How late packets leave, in LATENESS_BUCKET_US buckets. */
class Lateness {
  readonly histogram = new Int32Array(LATENESS_BUCKETS);
  count = 0;
  maxNs = 0;

  add(lateNs: number): void {
    const bucket = Math.min(LATENESS_BUCKETS - 1, Math.floor(lateNs / 1000 / LATENESS_BUCKET_US));
    this.histogram[bucket] = (this.histogram[bucket] as number) + 1;
    this.count++;
    this.maxNs = Math.max(this.maxNs, lateNs);
  }

  percentile(p: number): number {
    let seen = 0;
    for (let bucket = 0; bucket < LATENESS_BUCKETS; bucket++) {
      seen += this.histogram[bucket] as number;
      if (seen >= this.count * p) return bucket * LATENESS_BUCKET_US;
    }
    return LATENESS_BUCKETS * LATENESS_BUCKET_US;
  }
}

/** Writes every packet of `ring` that is due to `out`; returns ns until the next one is due, or -1. */
function sendDue(ring: Ring, out: number, now: number, lateness: Lateness): number {
  while (!ring.empty && (ring.dueNs[ring.head] as number) <= now) {
    const offset = ring.offsets[ring.head] as number;
    libc.write(out, ring.base + offset, ring.lengths[ring.head] as number);
    lateness.add(now - (ring.dueNs[ring.head] as number));
    ring.relayed++;
    ring.head = (ring.head + 1) % RING_PACKETS;
  }
  return ring.empty ? -1 : (ring.dueNs[ring.head] as number) - now;
}

/** Reads every packet waiting on `from` into `ring`, due `delayNs` from now. */
function receive(ring: Ring, from: number, delayNs: number): void {
  for (;;) {
    const offset = ring.room();
    if (offset < 0) {
      ring.full++; // leave it in the device's queue, which drops when it overflows, as a wire would
      return;
    }
    const length = Number(libc.read(from, ring.base + offset, MAX_PACKET_BYTES));
    if (length <= 0) return;
    ring.push(offset, length, Bun.nanoseconds() + delayNs);
  }
}

function run(names: [string, string], delayNs: number): Stats {
  const fds = [openTun(names[0]), openTun(names[1])] as const;
  const rings = [new Ring(), new Ring()] as const;
  const pollfds = new Uint8Array(3 * POLLFD_BYTES);
  const poll = new DataView(pollfds.buffer);
  for (const [index, fd] of [fds[0], fds[1], 0].entries()) {
    poll.setInt32(index * POLLFD_BYTES, fd, true);
    poll.setInt16(index * POLLFD_BYTES + 4, POLLIN, true);
  }
  const timeout = new BigInt64Array(2);
  const lateness = new Lateness();
  process.stdout.write("ready\n");
  for (;;) {
    const now = Bun.nanoseconds();
    const waits = [sendDue(rings[0], fds[1], now, lateness), sendDue(rings[1], fds[0], now, lateness)];
    const waitNs = Math.min(...waits.map((ns) => (ns < 0 ? Number.POSITIVE_INFINITY : ns)));
    if (Number.isFinite(waitNs)) {
      timeout[0] = BigInt(Math.floor(waitNs / 1e9));
      timeout[1] = BigInt(Math.floor(waitNs % 1e9));
    }
    if (libc.ppoll(pollfds, 3, Number.isFinite(waitNs) ? timeout : null, null) <= 0) continue;
    if (poll.getInt16(2 * POLLFD_BYTES + 6, true) & (POLLIN | POLLHUP)) break; // stdin: stop
    for (const side of [0, 1] as const) {
      if (poll.getInt16(side * POLLFD_BYTES + 6, true) & POLLIN) receive(rings[side], fds[side], delayNs);
    }
  }
  return {
    relayed: rings.map((ring) => ring.relayed),
    full: rings.map((ring) => ring.full),
    latenessUs: {
      p50: lateness.percentile(0.5),
      p99: lateness.percentile(0.99),
      max: Math.round(lateness.maxNs / 1000),
    },
  };
}

const [a, b, oneWayMs] = Bun.argv.slice(2);
if (!a || !b || !oneWayMs || !(Number(oneWayMs) >= 0)) {
  console.error("usage: bun delay-line.ts <tunA> <tunB> <one-way delay in ms>");
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(run([a, b], Number(oneWayMs) * 1e6))}\n`);
