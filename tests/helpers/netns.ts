/**
 * Two throwaway "hosts" for mDNS tests: network namespaces `gt-<id>a` and `gt-<id>b` joined by a veth pair that is
 * created inside them (it never exists in this machine's namespace), with 10.x IPv4 and fd00:: IPv6 addresses
 * that exist only there. Multicast sent inside stays inside. Also a private avahi-daemon for one side: its own
 * dbus-daemon, config, /run (tmpfs) and nsswitch.conf, in a mount namespace of its own, so the host's avahi, dbus
 * and /etc are never touched.
 *
 * Everything created is deleted by cleanup(), which also runs on process exit if a test forgot or crashed.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";

const NSS_MDNS_PATHS = ["/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"].map((dir) =>
  join(dir, "libnss_mdns4_minimal.so.2"),
);
const TOOLS = ["ip", "nsenter", "unshare", "dig", "avahi-daemon", "avahi-resolve", "avahi-browse", "dbus-daemon"];
const TOOLS_HINT = "apt-get install -y iproute2 dnsutils avahi-daemon avahi-utils dbus libnss-mdns curl";
const STARTUP_TIMEOUT_MS = 10_000;

/** Why the namespace tests cannot run here, or undefined when they can. */
export function netnsSkipReason(): string | undefined {
  if (process.platform !== "linux") return "needs Linux network namespaces";
  if (process.getuid?.() !== 0) return "needs root to create network namespaces (ip netns add)";
  const missing = [...TOOLS, "curl"].filter((tool) => !Bun.which(tool));
  if (missing.length > 0) return `missing ${missing.join(", ")}: ${TOOLS_HINT}`;
  if (!NSS_MDNS_PATHS.some((path) => existsSync(path))) return `nss-mdns is not installed: ${TOOLS_HINT}`;
  return undefined;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, never through a shell. */
export async function run(argv: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}) {
  const proc = Bun.spawn(argv, {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...options.env },
    timeout: options.timeoutMs ?? 15_000,
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr } satisfies RunResult;
}

function runSync(argv: string[]): RunResult {
  const result = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

function must(argv: string[]): void {
  const result = runSync(argv);
  if (result.code !== 0) throw new Error(`${argv.join(" ")} failed (${result.code}): ${result.stderr.trim()}`);
}

export interface Side {
  ns: string;
  iface: string;
  v4: string;
  v6: string;
}

export interface NetnsPair {
  a: Side;
  b: Side;
  /** The /24 both sides share, for tests that move an address: `${prefix}.<n>`. */
  prefix: string;
  /** argv that runs `argv` inside namespace `ns`. */
  exec(ns: string, argv: string[]): string[];
  cleanup(): void;
}

const randomByte = (min = 0) => min + Math.floor(Math.random() * (256 - min - 1));

/** Creates both namespaces and the link between them. Throws (after cleaning up) if any step fails. */
export function createNetnsPair(): NetnsPair {
  const id = crypto.randomUUID().slice(0, 6);
  const prefix = `10.${randomByte(1)}.${randomByte()}`;
  // Groups as tools print them (RFC 5952: no leading zeros), so `fd00:6ce:…` and not `fd00:06ce:…`.
  const group = () => Math.floor(Math.random() * 0xffff + 1).toString(16);
  const v6prefix = `fd00:${group()}:${group()}:`;
  const a: Side = { ns: `gt-${id}a`, iface: `gt${id}a`, v4: `${prefix}.1`, v6: `${v6prefix}:1` };
  const b: Side = { ns: `gt-${id}b`, iface: `gt${id}b`, v4: `${prefix}.2`, v6: `${v6prefix}:2` };
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    for (const side of [a, b]) {
      // Only processes inside namespaces this helper created, so only processes a test started.
      const pids = runSync(["ip", "netns", "pids", side.ns]).stdout.split(/\s+/).filter(Boolean);
      for (const pid of pids) runSync(["kill", "-9", pid]);
      runSync(["ip", "netns", "del", side.ns]);
    }
  };
  process.once("exit", cleanup);
  try {
    must(["ip", "netns", "add", a.ns]);
    must(["ip", "netns", "add", b.ns]);
    // Created inside namespace a with its peer placed straight into b: the link never appears on this host.
    must(["ip", "-n", a.ns, "link", "add", a.iface, "type", "veth", "peer", "name", b.iface, "netns", b.ns]);
    for (const side of [a, b]) {
      must(["ip", "-n", side.ns, "link", "set", "lo", "up"]);
      must(["ip", "-n", side.ns, "addr", "add", `${side.v4}/24`, "dev", side.iface]);
      // nodad: the address is usable at once instead of after duplicate address detection (~2 s).
      must(["ip", "-n", side.ns, "addr", "add", `${side.v6}/64`, "dev", side.iface, "nodad"]);
      must(["ip", "-n", side.ns, "link", "set", side.iface, "up", "multicast", "on"]);
    }
  } catch (error) {
    cleanup();
    throw error;
  }
  return { a, b, prefix, exec: (ns, argv) => ["ip", "netns", "exec", ns, ...argv], cleanup };
}

export interface AvahiHost {
  /** Runs a command on this host: its network namespace, its mount namespace (nsswitch, /run) and its dbus. */
  run(argv: string[], timeoutMs?: number): Promise<RunResult>;
  /** Starts a long-running command there (e.g. avahi-publish); the caller kills it. */
  spawn(argv: string[]): Subprocess<"ignore", "pipe", "pipe">;
  stop(): void;
}

/** Keeps reading a process's output (so its pipe never fills) and lets a caller wait for a line in it. */
export function collect(stream: ReadableStream<Uint8Array>) {
  let text = "";
  let ended = false;
  const waiters = new Set<() => void>();
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text += decoder.decode(chunk);
      for (const wake of waiters) wake();
    }
    ended = true;
    for (const wake of waiters) wake();
  })();
  return {
    text: () => text,
    /** Resolves once `marker` has appeared after offset `from`; rejects when the stream ends or time runs out. */
    async until(marker: string, what: string, from = 0, timeoutMs = STARTUP_TIMEOUT_MS): Promise<number> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const at = text.indexOf(marker, from);
        if (at !== -1) return at + marker.length;
        if (ended || Date.now() > deadline) throw new Error(`${what}: no ${JSON.stringify(marker)} in:\n${text}`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            resolve();
          };
          waiters.add(wake);
          setTimeout(wake, Math.max(0, deadline - Date.now()));
        });
      }
    },
  };
}

/** Polls `check` until it returns a value, or fails with the last state after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await Bun.sleep(200);
  }
  throw new Error(`${what} did not happen in ${timeoutMs} ms${last ? `: ${String(last)}` : ""}`);
}

function avahiConfig(iface: string, hostName: string): string {
  return [
    "[server]",
    `host-name=${hostName}`,
    "use-ipv4=yes",
    "use-ipv6=yes",
    `allow-interfaces=${iface}`,
    "enable-dbus=yes",
    // Tests query in bursts; avahi's default rate limit would drop some of them.
    "ratelimit-interval-usec=1000000",
    "ratelimit-burst=1000",
    "[wide-area]",
    "enable-wide-area=no",
    "[publish]",
    "publish-workstation=no",
    "publish-hinfo=no",
    "",
  ].join("\n");
}

/**
 * avahi-daemon on `side`, with nss-mdns answering `.local` lookups there (curl, getent). `dir` is a private temp
 * directory for its config and bus socket.
 */
export async function startAvahi(pair: NetnsPair, side: Side, dir: string, hostName: string): Promise<AvahiHost> {
  writeFileSync(join(dir, "avahi-daemon.conf"), avahiConfig(side.iface, hostName));
  writeFileSync(join(dir, "nsswitch.conf"), "hosts: files mdns4_minimal [NOTFOUND=return] dns\n");
  const bus = `unix:path=${join(dir, "bus")}`;
  const env = { DBUS_SYSTEM_BUS_ADDRESS: bus };
  const setup = `mount -t tmpfs gt-run /run && mkdir -p /run/avahi-daemon && mount --bind ${join(dir, "nsswitch.conf")} /etc/nsswitch.conf && echo ready && exec sleep 3600`;
  // ip netns exec, unshare (without --fork) and `exec sleep` all keep one pid: the holder of the mount namespace.
  const holder = Bun.spawn(
    pair.exec(side.ns, ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", setup]),
    {
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const procs: Subprocess[] = [holder];
  const enter = (argv: string[]) => ["nsenter", "-t", String(holder.pid), "-m", "-n", "--", ...argv];
  const stop = () => {
    for (const proc of procs.reverse()) proc.kill("SIGKILL");
  };
  try {
    await collect(holder.stdout).until("ready", "mount namespace");
    const dbus = Bun.spawn(enter(["dbus-daemon", "--session", "--nofork", `--address=${bus}`, "--print-address=1"]), {
      stdout: "pipe",
      stderr: "pipe",
    });
    procs.push(dbus);
    await collect(dbus.stdout).until("unix:path=", "dbus-daemon");
    const daemon = [
      "avahi-daemon",
      "-f",
      join(dir, "avahi-daemon.conf"),
      "--no-drop-root",
      "--no-chroot",
      "--no-rlimits",
    ];
    const avahi = Bun.spawn(enter(daemon), { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
    procs.push(avahi);
    await collect(avahi.stderr).until("Server startup complete", "avahi-daemon");
  } catch (error) {
    stop();
    throw error;
  }
  return {
    run: (argv, timeoutMs) => run(enter(argv), { env, timeoutMs }),
    spawn: (argv) => {
      const proc = Bun.spawn(enter(argv), {
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, ...env },
      });
      procs.push(proc);
      return proc;
    },
    stop,
  };
}
