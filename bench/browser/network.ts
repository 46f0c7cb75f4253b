/**
 * The far network condition: the browser in a network namespace of its own, the servers in the bench's, and
 * between them a point-to-point link through delay-line.ts that adds half the round-trip time each way. It stands
 * for a phone or a second machine on Wi-Fi: the browser reaches the servers at the link's address, not loopback.
 *
 * Only inside the bench's private namespaces (lib/isolate.ts): the link's devices and addresses exist nowhere else,
 * and die with them. The client namespace is held by a `sleep` under `unshare --net`; the browser enters it with
 * nsenter. The round trip is checked with ping over the link before anything is measured.
 */

import { readlinkSync } from "node:fs";
import { join } from "node:path";
import { type CpuPlan, pinned } from "../lib/cpu.ts";
import { runOk, sleep, spawnManaged, stopManaged } from "../lib/proc.ts";

const SERVER_ADDRESS = "10.253.0.1";
const CLIENT_ADDRESS = "10.253.0.2";
const SERVER_DEVICE = "gtbench-s";
const CLIENT_DEVICE = "gtbench-c";
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5000;
const COMMAND_TIMEOUT_MS = 10_000;
const PING_COUNT = 20;
const PING_INTERVAL_S = 0.05;
/**
 * SCHED_FIFO priority of the delay line: it sleeps between packets and must wake on time even while the browser
 * keeps the client CPU busy, as a real wire would not wait for the phone's CPU. Kernel RT throttling
 * (sched_rt_runtime_us, 95% by default) bounds it if it ever spun.
 */
const DELAY_LINE_PRIORITY = 10;

export interface WireStats {
  relayed: number[];
  full: number[];
  latenessUs: { p50: number; p99: number; max: number };
}

export interface Link {
  /** Where the browser on the far side reaches the servers. */
  serverAddress: string;
  /** argv that runs a command in the client namespace. */
  enter: string[];
  /** What ping over the link measured, e.g. "5.31 ms (min 5.12, max 5.90, 20 pings)". */
  rtt: string;
  /** Stops the wire and returns how punctual it was. */
  stop(): Promise<WireStats | null>;
}

/** The delay line's stdout, line by line: `next` resolves with the next line, or null at its end or timeout. */
function lines(stream: ReadableStream<Uint8Array>) {
  let text = "";
  let ended = false;
  let wake = () => {};
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text += decoder.decode(chunk);
      wake();
    }
    ended = true;
    wake();
  })();
  return {
    async next(timeoutMs: number): Promise<string | null> {
      const deadline = Date.now() + timeoutMs;
      while (!text.includes("\n")) {
        if (ended || Date.now() > deadline) return null;
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, Math.max(0, deadline - Date.now()));
        });
      }
      const end = text.indexOf("\n");
      const line = text.slice(0, end);
      text = text.slice(end + 1);
      return line;
    },
  };
}

function startDelayLine(oneWayMs: number, cpus: CpuPlan | null) {
  const script = join(import.meta.dir, "delay-line.ts");
  const line = [process.execPath, script, SERVER_DEVICE, CLIENT_DEVICE, String(oneWayMs)];
  const realtime = Bun.which("chrt") ? ["chrt", "-f", String(DELAY_LINE_PRIORITY)] : [];
  return Bun.spawn(pinned(cpus, "client", [...realtime, ...line]), {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
  });
}

async function ping(enter: string[]): Promise<string> {
  if (!Bun.which("ping")) return "not checked (ping is missing: apt-get install -y iputils-ping)";
  const count = ["-c", String(PING_COUNT), "-i", String(PING_INTERVAL_S), "-q"];
  const output = await runOk([...enter, "ping", ...count, SERVER_ADDRESS], COMMAND_TIMEOUT_MS);
  // rtt min/avg/max/mdev = 5.123/5.310/5.902/0.140 ms
  const match = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(output);
  if (!match) return `not parsed from ping's output: ${output.trim().split("\n").at(-1)}`;
  return `${match[2]} ms (min ${match[1]}, max ${match[3]}, ${PING_COUNT} pings)`;
}

/** Resolves once `pid` runs in a network namespace other than ours (unshare has run), so the device lands there. */
async function inOwnNamespace(pid: number): Promise<void> {
  const ours = readlinkSync("/proc/self/ns/net");
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (readlinkSync(`/proc/${pid}/ns/net`) === ours) {
    if (Date.now() > deadline) throw new Error("unshare --net did not make the client namespace");
    await sleep(20);
  }
}

/** Builds the link and its client namespace. Root only, inside the bench's own namespaces. */
export async function createLink(dir: string, rttMs: number, cpus: CpuPlan | null): Promise<Link> {
  const holder = spawnManaged("client-netns", ["unshare", "--net", "sleep", "infinity"], {
    logPath: join(dir, "client-netns.log"),
  });
  const wire = startDelayLine(rttMs / 2, cpus);
  const output = lines(wire.stdout);
  const stop = async (): Promise<WireStats | null> => {
    // Closing its stdin stops the delay line, which then prints its statistics.
    wire.stdin.end();
    const stats = await output.next(STOP_TIMEOUT_MS);
    wire.kill();
    await stopManaged(holder);
    return stats ? (JSON.parse(stats) as WireStats) : null;
  };
  try {
    if ((await output.next(READY_TIMEOUT_MS)) !== "ready") throw new Error("the delay line did not start");
    await inOwnNamespace(holder.pid);
    const enter = ["nsenter", "-t", String(holder.pid), "-n", "--"];
    const ip = (args: string[], inClient = false) =>
      runOk([...(inClient ? enter : []), "ip", ...args], COMMAND_TIMEOUT_MS);
    await ip(["link", "set", CLIENT_DEVICE, "netns", String(holder.pid)]);
    await ip(["addr", "add", SERVER_ADDRESS, "peer", CLIENT_ADDRESS, "dev", SERVER_DEVICE]);
    await ip(["link", "set", SERVER_DEVICE, "up"]);
    await ip(["link", "set", "lo", "up"], true);
    await ip(["addr", "add", CLIENT_ADDRESS, "peer", SERVER_ADDRESS, "dev", CLIENT_DEVICE], true);
    await ip(["link", "set", CLIENT_DEVICE, "up"], true);
    return { serverAddress: SERVER_ADDRESS, enter, rtt: await ping(enter), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
