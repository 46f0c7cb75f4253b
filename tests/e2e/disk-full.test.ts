/**
 * A full disk (issue 15, item 6) on the compiled binary: GOTUNNEL_HOME and the hosts file live on a real 1 MiB tmpfs,
 * mounted in a private mount namespace (helpers/mount-namespace.ts) so it cannot leak onto this machine. Full is a
 * clear error with exit 8 naming the file system, never "this is a bug" or "see its log" (the log cannot be written
 * either), and no file is ever left empty or half-written, however many pages happen to be free when space runs out.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { ExitCode } from "../../src/core/errors.ts";
import { BINARY, binaryEnv, E2EScope, freePort, type RunResult, requireBinary, waitForExit } from "../helpers/e2e.ts";
import { MountNamespace, mountNamespaceSkipReason } from "../helpers/mount-namespace.ts";

const skipReason = mountNamespaceSkipReason(["dd", "truncate"]);
const TMPFS_SIZE = "1m";
const PAGE_BYTES = 4096;
const HOSTS_BEFORE = "127.0.0.1\tlocalhost\n::1\tlocalhost\n";
/** The message every full-disk failure prints (src/core/errors.ts diskFullError). */
const FULL =
  /^error the file system holding (\S+) is full \(ENOSPC: no space left on the device\): could not write (\S+)$/m;

const scope = new E2EScope();
let ns: MountNamespace;
/** The tmpfs mount point, the same path inside the namespace and (via ns.path) from here. */
let disk = "";
let upstreamPort = 0;

beforeAll(async () => {
  if (skipReason) return;
  requireBinary();
  disk = join(scope.dir("disk-full"), "fs");
  mkdirSync(disk);
  ns = await MountNamespace.start(`mount -t tmpfs -o size=${TMPFS_SIZE},mode=755 gotunnel-disk-full ${disk}`);
  upstreamPort = await freePort();
});

afterAll(async () => {
  if (ns) {
    await stopDaemon();
    await ns.stop();
  }
  await scope.dispose();
});

const home = () => join(disk, "home");
const hostsFile = () => join(disk, "hosts");

/** A fresh home and hosts file, then the file system filled up to all but `freePages` pages. */
async function fill(freePages: number): Promise<void> {
  await stopDaemon();
  const reset = await ns.sh(`rm -rf "$1"/* && mkdir "$1/home"`, [disk]);
  expect(reset.stderr).toBe("");
  writeFileSync(ns.path(hostsFile()), HOSTS_BEFORE);
  const script = `dd if=/dev/zero of="$1/filler" bs=${PAGE_BYTES} 2>/dev/null || true
truncate -s -$(( $2 * ${PAGE_BYTES} )) "$1/filler"`;
  const filled = await ns.sh(script, [disk, String(freePages)]);
  expect(filled.stderr).toBe("");
  const df = await ns.run(["df", "--output=avail", "-B1", disk]);
  expect(Number(df.stdout.trim().split("\n")[1])).toBe(freePages * PAGE_BYTES);
}

function gotunnel(args: string[]): Promise<RunResult> {
  const env = binaryEnv(home(), { GOTUNNEL_HOSTS_FILE: hostsFile() });
  return ns.run([BINARY, ...args], { env, cwd: disk, timeoutMs: 30_000 });
}

const start = () =>
  gotunnel(["start", "-d", "full", "-p", String(upstreamPort), "--proxy-https-port", "0", "--proxy-http-port", "0"]);

/** The daemon of the current home, if one runs (its lock file, which holds the pid, is read through the namespace). */
function daemonPid(): number | undefined {
  const file = ns.path(join(home(), "state", "daemon.lock"));
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, "utf8").trim());
  return Number.isInteger(pid) && pid > 0 && existsSync(`/proc/${pid}`) ? pid : undefined;
}

async function stopDaemon(): Promise<void> {
  const pid = daemonPid();
  if (pid === undefined) return;
  process.kill(pid, "SIGTERM");
  if (!(await waitForExit(pid))) process.kill(pid, "SIGKILL");
}

/** Every regular file under the home, relative path → bytes. */
function filesOf(dir: string): Map<string, Buffer> {
  const root = ns.path(dir);
  const files = new Map<string, Buffer>();
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile()) files.set(relative(root, path), readFileSync(path));
  }
  return files;
}

/**
 * Nothing empty, nothing half-written: daemon.log is exempt from "empty" (it is opened before the daemon starts, to
 * receive its output, and stays empty when nothing could be written); the lock file names a live daemon; the state file
 * parses; the CA is both files or neither; no temp file or creation marker is left.
 */
function expectNothingHalfWritten(): void {
  const files = filesOf(home());
  for (const [path, bytes] of files) {
    if (path !== "state/daemon.log") expect(bytes.length, `${path} is empty`).toBeGreaterThan(0);
    expect(path).not.toMatch(/\.tmp$|\.creating$/);
  }
  const pid = files.get("state/daemon.lock");
  if (pid) expect(daemonPid(), "the lock file names a running daemon").toBe(Number(pid.toString().trim()));
  const state = files.get("state/routes.json");
  if (state) expect(() => JSON.parse(state.toString())).not.toThrow();
  expect(files.has("ca/rootCA.pem")).toBe(files.has("ca/rootCA-key.pem"));
  for (const name of ["ca/rootCA.pem", "ca/rootCA-key.pem"]) {
    const pem = files.get(name)?.toString();
    if (pem) expect(pem.trimEnd()).toMatch(/^-----BEGIN [A-Z ]+-----\n[\s\S]+\n-----END [A-Z ]+-----$/);
  }
  // The hosts file (on the same full disk) is the old one or the old one plus a whole gotunnel block.
  const hosts = readFileSync(ns.path(hostsFile()), "utf8");
  expect([
    HOSTS_BEFORE,
    `${HOSTS_BEFORE}# gotunnel-start\n127.0.0.1 full.local\n::1 full.local\n# gotunnel-end\n`,
  ]).toContain(hosts);
}

/** Exit 8 with the one full-disk message, naming a directory of this home; no crash report, no pointer to a log. */
function expectDiskFull(result: RunResult): void {
  expect(result.stderr).toMatch(FULL);
  const [, dir = "", file = ""] = FULL.exec(result.stderr) ?? [];
  expect(`${dir}/`.startsWith(`${home()}/`) || dir === home() || dir === disk).toBe(true);
  expect(file.startsWith(`${dir}/`)).toBe(true);
  expect(result.stderr).toContain(`hint  free some space on it (\`df -h ${dir}\` shows what is left)`);
  expect(result.stderr).not.toContain("crashed");
  expect(result.stderr).not.toContain("see its log");
  expect(result.exitCode).toBe(ExitCode.io);
}

describe.skipIf(skipReason !== undefined)("a full disk under GOTUNNEL_HOME (a real 1 MiB tmpfs)", () => {
  test("start, the daemon itself and ca exit 8 naming the full file system, and leave nothing behind", async () => {
    await fill(0);
    const started = await start();
    expectDiskFull(started);
    expect(daemonPid()).toBeUndefined();
    expectNothingHalfWritten();

    const foreground = await gotunnel(["daemon", "--proxy-https-port", "0", "--proxy-http-port", "0"]);
    expectDiskFull(foreground);
    expectNothingHalfWritten();

    const ca = await gotunnel(["ca"]);
    expectDiskFull(ca);
    expect(FULL.exec(ca.stderr)?.[1]).toBe(join(home(), "ca"));
    expect([...filesOf(home()).keys()].filter((path) => path.startsWith("ca/"))).toEqual([]);

    // Space freed: the same home works, nothing from the failed runs is in the way.
    await ns.run(["rm", join(disk, "filler")]);
    const again = await start();
    expect(again.stderr).toBe("");
    expect(again.exitCode).toBe(0);
    expect(daemonPid()).toBeDefined();
  }, 60_000);

  test("ca with 0 to 4 pages free: a whole CA, or exit 8 and no CA file at all", async () => {
    const outcomes: string[] = [];
    for (let freePages = 0; freePages <= 4; freePages++) {
      await fill(freePages);
      const ca = await gotunnel(["ca"]);
      expectNothingHalfWritten();
      if (ca.exitCode !== 0) expectDiskFull(ca);
      const written = [...filesOf(home()).keys()].filter((path) => path.startsWith("ca/")).sort();
      expect(written).toEqual(ca.exitCode === 0 ? ["ca/rootCA-key.pem", "ca/rootCA.pem"] : []);
      outcomes.push(`${freePages}:${ca.exitCode}`);
    }
    // Both outcomes were reached: the loop crossed the point where the CA fits.
    expect(outcomes[0]).toBe("0:8");
    expect(outcomes.at(-1)).toBe("4:0");
  }, 60_000);

  test("start with 0 to 12 pages free: serving, or exit 8; never an empty or partial file", async () => {
    const outcomes: number[] = [];
    for (let freePages = 0; freePages <= 12; freePages++) {
      await fill(freePages);
      const started = await start();
      expectNothingHalfWritten();
      if (started.exitCode !== 0) expectDiskFull(started);
      outcomes.push(started.exitCode);
    }
    expect(outcomes[0]).toBe(ExitCode.io);
    expect(outcomes.at(-1)).toBe(ExitCode.ok);
    expect(statSync(ns.path(join(home(), "state", "routes.json"))).size).toBeGreaterThan(0);
  }, 120_000);
});
