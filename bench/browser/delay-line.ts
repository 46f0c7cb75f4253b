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
import { dlopen, FFIType } from "bun:ffi";

const libc = dlopen("libc.so.6", {
  open: { args: [FFIType.cstring, FFIType.i32], returns: FFIType.i32 },
  ioctl: { args: [FFIType.i32, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
  read: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64_fast },
  write: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64_fast },
  ppoll: { args: [FFIType.ptr, FFIType.u64, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
}).symbols;

// <linux/if_tun.h>, <fcntl.h>, <poll.h>
const O_RDWR = 0o2;
const O_NONBLOCK = 0o4000;
const TUNSETIFF = 0x400454ca;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
const IFREQ_BYTES = 40;
const IFR_FLAGS_OFFSET = 16;
const POLLIN = 0x1;
const POLLHUP = 0x10;
const POLLFD_BYTES = 8;

/** Packets in flight per direction: at 1 Gbit/s and 2.5 ms, about 210 full-size packets are on the wire. */
const SLOTS = 16_384;
/** Above the links' MTU (1500), as TUN reads one packet per read(2). */
const SLOT_BYTES = 2048;
const LATENESS_BUCKET_US = 10;
const LATENESS_BUCKETS = 1000;

function openTun(name: string): number {
  const fd = libc.open(Buffer.from(`/dev/net/tun\0`), O_RDWR | O_NONBLOCK);
  if (fd < 0) throw new Error("cannot open /dev/net/tun (needs root and the tun module)");
  const ifreq = new Uint8Array(IFREQ_BYTES);
  ifreq.set(new TextEncoder().encode(name));
  new DataView(ifreq.buffer).setUint16(IFR_FLAGS_OFFSET, IFF_TUN | IFF_NO_PI, true);
  if (libc.ioctl(fd, TUNSETIFF, ifreq) < 0) throw new Error(`ioctl(TUNSETIFF, ${name}) failed`);
  return fd;
}

/** A ring of packets waiting for their due time, oldest first (a constant delay keeps them in arrival order). */
class Ring {
  readonly bytes = new Uint8Array(SLOTS * SLOT_BYTES);
  readonly slots: Uint8Array[] = [];
  readonly lengths = new Int32Array(SLOTS);
  readonly dueNs = new Float64Array(SLOTS);
  head = 0;
  tail = 0;
  relayed = 0;
  full = 0;

  constructor() {
    for (let slot = 0; slot < SLOTS; slot++)
      this.slots.push(this.bytes.subarray(slot * SLOT_BYTES, (slot + 1) * SLOT_BYTES));
  }
}

interface Stats {
  relayed: number[];
  /** Times a direction's ring was full and reading paused. */
  full: number[];
  latenessUs: { p50: number; p99: number; max: number };
}

function percentile(histogram: Int32Array, total: number, p: number): number {
  let seen = 0;
  for (let bucket = 0; bucket < histogram.length; bucket++) {
    seen += histogram[bucket] as number;
    if (seen >= total * p) return bucket * LATENESS_BUCKET_US;
  }
  return histogram.length * LATENESS_BUCKET_US;
}

function run(names: [string, string], delayNs: number): Stats {
  const fds = [openTun(names[0]), openTun(names[1])];
  const rings = [new Ring(), new Ring()];
  const pollfds = new Uint8Array(3 * POLLFD_BYTES);
  const poll = new DataView(pollfds.buffer);
  for (const [index, fd] of [fds[0], fds[1], 0].entries()) {
    poll.setInt32(index * POLLFD_BYTES, fd as number, true);
    poll.setInt16(index * POLLFD_BYTES + 4, POLLIN, true);
  }
  const timeout = new BigInt64Array(2);
  const lateness = new Int32Array(LATENESS_BUCKETS);
  let maxLateNs = 0;
  process.stdout.write("ready\n");
  for (;;) {
    let waitNs = -1;
    const now = Bun.nanoseconds();
    for (let from = 0; from < 2; from++) {
      const ring = rings[from] as Ring;
      while (ring.head !== ring.tail && (ring.dueNs[ring.head] as number) <= now) {
        libc.write(fds[1 - from] as number, ring.slots[ring.head] as Uint8Array, ring.lengths[ring.head] as number);
        const lateNs = now - (ring.dueNs[ring.head] as number);
        maxLateNs = Math.max(maxLateNs, lateNs);
        const bucket = Math.min(LATENESS_BUCKETS - 1, Math.floor(lateNs / 1000 / LATENESS_BUCKET_US));
        lateness[bucket] = (lateness[bucket] as number) + 1;
        ring.relayed++;
        ring.head = (ring.head + 1) % SLOTS;
      }
      if (ring.head !== ring.tail) {
        const untilNs = (ring.dueNs[ring.head] as number) - now;
        waitNs = waitNs < 0 ? untilNs : Math.min(waitNs, untilNs);
      }
    }
    if (waitNs >= 0) {
      timeout[0] = BigInt(Math.floor(waitNs / 1e9));
      timeout[1] = BigInt(Math.floor(waitNs % 1e9));
    }
    if (libc.ppoll(pollfds, 3, waitNs >= 0 ? timeout : null, null) <= 0) continue;
    if (poll.getInt16(2 * POLLFD_BYTES + 6, true) & (POLLIN | POLLHUP)) break; // stdin: stop
    for (let from = 0; from < 2; from++) {
      if ((poll.getInt16(from * POLLFD_BYTES + 6, true) & POLLIN) === 0) continue;
      const ring = rings[from] as Ring;
      for (;;) {
        const next = (ring.tail + 1) % SLOTS;
        if (next === ring.head) {
          ring.full++; // leave the packet in the device's queue (which drops when it overflows, as a wire would)
          break;
        }
        const length = Number(libc.read(fds[from] as number, ring.slots[ring.tail] as Uint8Array, SLOT_BYTES));
        if (length <= 0) break;
        ring.lengths[ring.tail] = length;
        ring.dueNs[ring.tail] = Bun.nanoseconds() + delayNs;
        ring.tail = next;
      }
    }
  }
  const total = rings[0]!.relayed + rings[1]!.relayed;
  return {
    relayed: rings.map((ring) => ring.relayed),
    full: rings.map((ring) => ring.full),
    latenessUs: {
      p50: percentile(lateness, total, 0.5),
      p99: percentile(lateness, total, 0.99),
      max: Math.round(maxLateNs / 1000),
    },
  };
}

const [a, b, oneWayMs] = Bun.argv.slice(2);
if (!a || !b || !oneWayMs || !(Number(oneWayMs) >= 0)) {
  console.error("usage: bun delay-line.ts <tunA> <tunB> <one-way delay in ms>");
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(run([a, b], Number(oneWayMs) * 1e6))}\n`);
