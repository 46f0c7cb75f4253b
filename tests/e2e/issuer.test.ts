/**
 * Certificates are made by a short-lived child of the daemon (`gotunnel __issue-certificates`, src/tls/issuer/), so
 * the daemon never loads @peculiar/x509 (issue 18). Checked on the compiled binary: the child serves a burst and then
 * exits; it dies with a daemon killed by SIGKILL; and a child that hangs or is killed fails only the route being
 * added, with E_TLS (exit 5) saying what happened, while the daemon keeps serving its routes and the CA stays as it
 * was. The issuer's timings come from GOTUNNEL_ISSUER_IDLE_MS and GOTUNNEL_ISSUER_TIMEOUT_MS.
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { curl, daemonPid, run, runGotunnel, until, withEchoUpstream } from "../helpers/e2e.ts";
import { requireTools } from "../helpers/tools.ts";

const PORTS = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };
const EXIT_TLS = 5;
const ISSUER_ARG = "__issue-certificates";

const ss = requireTools("ss");
const file = withEchoUpstream();
const { scope } = file;

/** The issuer children of `parent` now: processes whose parent it is and whose argv ends in the hidden command. */
function issuersOf(parent: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const [, state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (Number(ppid) === parent && state !== "Z" && argv.includes(ISSUER_ARG)) found.push(Number(entry));
    } catch {
      // The process ended between the listing and the read: it is not one we are looking for any more.
    }
  }
  return found;
}

/** Gone, or a zombie (exited; whoever inherited it has not reaped it yet: PID 1 here takes a second or so). */
function hasExited(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** A daemon (started by `start`) serving `name`, with the issuer timings given; returns its home and its pid. */
async function daemonWith(name: string, env: Record<string, string>) {
  const home = scope.dir(name);
  const options = { cwd: home, home, env: { ...PORTS, ...env } };
  const started = await runGotunnel(["start", "-d", name, "-p", String(file.upstream.port), "--json"], options);
  expect(started.exitCode, started.stderr).toBe(0);
  const ready = JSON.parse(started.stdout.split("\n")[0] ?? "") as { routes: { url: string }[]; ca: { path: string } };
  const pid = daemonPid(home);
  if (pid === undefined) throw new Error("no daemon holds the lock after start");
  // Without --json: a failure is the user's error text on stderr.
  const start = (route: string) => runGotunnel(["start", "-d", route, "-p", String(file.upstream.port)], options);
  return { home, pid, ca: ready.ca.path, url: ready.routes[0]?.url ?? "", start };
}

async function status(url: string, ca: string): Promise<number> {
  return (await curl(url, { ca })).status;
}

describe("the certificate issuer child", () => {
  test("issues the daemon's certificates, exits once idle, and a later route gets a new one", async () => {
    const daemon = await daemonWith("burst.local", { GOTUNNEL_ISSUER_IDLE_MS: "1500" });
    const first = issuersOf(daemon.pid);
    expect(first).toHaveLength(1);
    // A burst shares the child: the second route within the idle period is issued by the same process.
    const second = await daemon.start("burst2.local");
    expect(second.exitCode, second.stderr).toBe(0);
    expect(issuersOf(daemon.pid)).toEqual(first);
    expect(await status(daemon.url, daemon.ca)).toBe(200);
    expect(await until(() => (issuersOf(daemon.pid).length === 0 ? true : undefined))).toBe(true);
    const later = await daemon.start("later.local");
    expect(later.exitCode, later.stderr).toBe(0);
    expect(await status(daemon.url.replace("burst.local", "later.local"), daemon.ca)).toBe(200);
    expect(issuersOf(daemon.pid)).not.toEqual(first);
  });

  test("the daemon's heap holds nothing of the certificate library, its certificates issued", async () => {
    const daemon = await daemonWith("heap.local", {});
    expect(await status(daemon.url, daemon.ca)).toBe(200);
    const file = join(scope.dir("heap"), "daemon.heapsnapshot");
    const socket = join(daemon.home, "run", "control.sock");
    const dumped = await run(["curl", "-sS", "--unix-socket", socket, "-o", file, "http://localhost/debug/heap"]);
    expect(dumped.exitCode, dumped.stderr).toBe(0);
    const strings = new Set((JSON.parse(readFileSync(file, "utf8")) as { strings: string[] }).strings);
    expect(strings.has("heap.local")).toBe(true); // it is the daemon's heap
    // The names are minified in the binary, but these strings of reflect-metadata and asn1js (under @peculiar/x509) are in
    // the heap of any process that loaded them (a daemon that issued in-process had both).
    expect(strings.has("@reflect-metadata:registry")).toBe(false);
    expect(strings.has("Maximum ASN.1 nesting depth exceeded")).toBe(false);
  });

  test("exits when its daemon is killed with SIGKILL (its stdin ends)", async () => {
    const daemon = await daemonWith("killed.local", { GOTUNNEL_ISSUER_IDLE_MS: "600000" });
    const [issuer] = issuersOf(daemon.pid);
    expect(issuer).toBeNumber();
    process.kill(daemon.pid, "SIGKILL");
    expect(await until(() => (hasExited(issuer as number) ? true : undefined), 15_000)).toBe(true);
  });

  test("one that stops answering fails the new route with E_TLS; the daemon keeps serving and the CA is unchanged", async () => {
    const daemon = await daemonWith("hung.local", {
      GOTUNNEL_ISSUER_IDLE_MS: "600000",
      GOTUNNEL_ISSUER_TIMEOUT_MS: "1500",
    });
    const caFiles = [daemon.ca, join(daemon.home, "ca", "rootCA-key.pem")];
    const before = caFiles.map(sha256);
    const [issuer] = issuersOf(daemon.pid);
    process.kill(issuer as number, "SIGSTOP");
    const refused = await daemon.start("hung2.local");
    expect(refused.exitCode).toBe(EXIT_TLS);
    expect(refused.stderr).toContain(
      "gotunnel's certificate issuer failed while issuing a certificate for hung2.local: it did not answer within 1.5 s and was stopped.",
    );
    expect(refused.stderr).toContain("Nothing was changed");
    expect(await status(daemon.url, daemon.ca)).toBe(200);
    expect(caFiles.map(sha256)).toEqual(before);
    // The daemon killed the stuck child; the next try gets a fresh one and succeeds.
    expect(await until(() => (hasExited(issuer as number) ? true : undefined))).toBe(true);
    const retried = await daemon.start("hung2.local");
    expect(retried.exitCode, retried.stderr).toBe(0);
  });

  test.skipIf(ss.skip)(
    ss.title("one killed while it holds a request fails that route with E_TLS naming the signal"),
    async () => {
      const daemon = await daemonWith("shot.local", { GOTUNNEL_ISSUER_IDLE_MS: "600000" });
      const [issuer] = issuersOf(daemon.pid);
      process.kill(issuer as number, "SIGSTOP");
      const pending = daemon.start("shot2.local");
      // Kill it only once the request sits unread in its stdin pipe, so the daemon is waiting for this child.
      expect(await until(() => (stdinQueued(issuer as number) > 0 ? true : undefined))).toBe(true);
      process.kill(issuer as number, "SIGKILL");
      const refused = await pending;
      expect(refused.exitCode).toBe(EXIT_TLS);
      expect(refused.stderr).toMatch(
        /certificate issuer failed while issuing a certificate for shot2\.local: it was killed by SIGKILL \(pid \d+\)/,
      );
      expect(await status(daemon.url, daemon.ca)).toBe(200);
      const listed = await runGotunnel(["list", "--json"], { cwd: daemon.home, home: daemon.home });
      expect(listed.stdout).not.toContain("shot2.local");
    },
  );
});

/**
 * Bytes waiting unread in `pid`'s stdin. Bun gives a child a socket pair for a "pipe" stdin, so `ss -x` reports the
 * queue of the socket whose inode /proc/<pid>/fd/0 names.
 */
function stdinQueued(pid: number): number {
  const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/0`))?.[1];
  if (inode === undefined) throw new Error(`stdin of ${pid} is not a socket`);
  const listing = Bun.spawnSync(["ss", "-xn"]).stdout.toString();
  for (const line of listing.split("\n")) {
    const columns = line.trim().split(/\s+/);
    if (columns[5] === inode) return Number(columns[2]);
  }
  return 0;
}
