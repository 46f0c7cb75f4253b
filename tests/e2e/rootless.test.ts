/**
 * Rootless after setup: the compiled binary, given `cap_net_bind_service` once (the step `gotunnel service install`
 * and `gotunnel doctor` ask for), runs as the unprivileged user `nobody` in network namespace "a" and serves
 * https://x.localhost:443 there and https://x.local:443 to namespace "b", a second machine on the same link whose
 * avahi-daemon and nss-mdns resolve x.local by mDNS from gotunnel's own responder. No process in namespace "a" runs
 * as root, and the hosts file (root's, read-only to nobody) is never needed. Both namespaces, the veth and b's avahi
 * are created and removed by tests/helpers/netns.ts: nothing binds this machine's 443/80 or sends on its network.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BINARY, E2EScope, requireBinary } from "../helpers/e2e.ts";
import {
  type AvahiHost,
  collect,
  createNetnsPair,
  eventually,
  type NetnsPair,
  netnsSkipReason,
  run,
  startAvahi,
} from "../helpers/netns.ts";
import {
  asNobodyArgv,
  asNobodyGotunnelArgv,
  cleanupNobodyFiles,
  copyForNobody,
  NOBODY,
  nobodyDir,
} from "../helpers/nobody.ts";
import { requireAll, requirement, requireTools } from "../helpers/tools.ts";

const UPSTREAM_PORT = 3999;
/** Debian's own python3, which nobody can run (a pyenv shim under /root is not theirs to read). */
const PYTHON = "/usr/bin/python3";
const HOSTS_TEXT = "127.0.0.1 localhost\n::1 localhost\n";
const can = requireAll(requirement(netnsSkipReason()), requireTools("setcap", "python3"));
const scope = new E2EScope();

/** CapEff of a /proc/<pid>/status text, as a number. */
const capEff = (status: string) => BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? "0"}`);

describe.skipIf(can.skip)(can.title("rootless: nobody serves 443 for .localhost and, by mDNS, .local"), () => {
  let pair: NetnsPair;
  let phone: AvahiHost;
  let home: string;
  let hostsFile: string;
  let binary: string;
  let plain: string;
  let upstream: Subprocess;

  const asNobody = (argv: string[], env: Record<string, string> = {}) =>
    run(pair.exec(pair.a.ns, asNobodyGotunnelArgv(home, { GOTUNNEL_HOSTS_FILE: hostsFile, ...env }, argv)), {
      timeoutMs: 30_000,
    });
  const ca = () => join(home, "gt", "ca", "rootCA.pem");

  beforeAll(async () => {
    requireBinary();
    scope.defer(cleanupNobodyFiles);
    const dir = nobodyDir();
    home = join(dir, "home");
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, NOBODY, NOBODY);
    // Root's hosts file, as /etc/hosts is: readable, not writable, by nobody.
    hostsFile = join(dir, "hosts");
    writeFileSync(hostsFile, HOSTS_TEXT, { mode: 0o644 });
    binary = copyForNobody(BINARY, dir);
    plain = copyForNobody(BINARY, nobodyDir());
    expect((await run(["setcap", "cap_net_bind_service=+ep", binary])).code).toBe(0);
    const site = join(dir, "site");
    mkdirSync(site, { mode: 0o755 });
    writeFileSync(join(site, "index.html"), "hello from upstream", { mode: 0o644 });
    pair = createNetnsPair();
    scope.defer(() => pair.cleanup());
    phone = await startAvahi(pair, pair.b, scope.dir("avahi"), "gtphone");
    scope.defer(() => phone.stop());
    // The upstream runs as nobody too: nothing in namespace a is root's.
    const serve = asNobodyArgv([PYTHON, "-u", "-m", "http.server"]);
    upstream = Bun.spawn(
      pair.exec(pair.a.ns, [...serve, String(UPSTREAM_PORT), "--bind", "127.0.0.1", "--directory", site]),
      {
        stdout: "pipe",
        stderr: "ignore",
      },
    );
    scope.defer(() => upstream.kill("SIGKILL"));
    await collect(upstream.stdout as ReadableStream<Uint8Array>).until("Serving HTTP", "upstream");
  }, 60_000);

  afterAll(async () => {
    await asNobody([binary, "daemon", "stop"]).catch((error: unknown) => console.error("daemon stop:", error));
    await scope.dispose();
  });

  test("without the capability, nobody cannot take 443, and the error names the one-time step", async () => {
    const result = await asNobody([plain, "start", "-d", "x.localhost", "-p", String(UPSTREAM_PORT)]);
    expect(result.code).toBe(4);
    expect(result.stderr).toContain("port 443 (HTTPS) needs root privileges to bind");
    expect(result.stderr).toContain("sudo setcap cap_net_bind_service=+ep");
  });

  test("with it, nobody's daemon serves both names on 443 and 80", async () => {
    for (const name of ["x.localhost", "x.local"]) {
      const started = await asNobody([binary, "start", "-d", name, "-p", String(UPSTREAM_PORT), "--json"]);
      expect(started.stderr).not.toContain("error");
      expect(started.code).toBe(0);
      expect(JSON.parse(started.stdout).ports).toEqual({ https: 443, http: 80 });
    }
  }, 30_000);

  test("https://x.localhost/ on 443 from namespace a, with no hosts entry (curl resolves .localhost itself)", async () => {
    const result = await asNobody([
      "curl",
      "-sS",
      "--max-time",
      "5",
      "--cacert",
      ca(),
      "-w",
      " %{http_code}",
      "https://x.localhost/",
    ]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe("hello from upstream 200");
  });

  test("https://x.local/ on 443 from namespace b, resolved by mDNS through b's avahi and nss-mdns", async () => {
    await eventually(
      async () => {
        const resolved = await phone.run(["avahi-resolve", "-4", "-n", "x.local"]);
        return resolved.stdout === `x.local\t${pair.a.v4}\n` ? true : undefined;
      },
      "avahi in b resolving x.local",
      15_000,
    );
    const result = await phone.run([
      "curl",
      "-sS",
      "--max-time",
      "5",
      "--cacert",
      ca(),
      "-w",
      " %{http_code}",
      "https://x.local/",
    ]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe("hello from upstream 200");
  }, 30_000);

  test("no process in namespace a runs as root; the daemon holds only cap_net_bind_service", async () => {
    const pids = (await run(["ip", "netns", "pids", pair.a.ns])).stdout.split(/\s+/).filter(Boolean);
    const processes = pids.flatMap((pid) => {
      try {
        const status = readFileSync(`/proc/${pid}/status`, "utf8");
        const uids = /^Uid:\s+(.+)$/m.exec(status)?.[1]?.split(/\s+/) ?? [];
        return [{ pid, name: /^Name:\s+(.+)$/m.exec(status)?.[1], uids, capEff: capEff(status) }];
      } catch (error) {
        // Gone between the listing and the read (a finished curl): not running as anyone.
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
        throw error;
      }
    });
    expect(processes.map((p) => p.name)).toContain("gotunnel");
    for (const p of processes)
      expect({ pid: p.pid, name: p.name, uids: p.uids }).toEqual({
        pid: p.pid,
        name: p.name,
        uids: Array(4).fill(String(NOBODY)),
      });
    const daemon = processes.find((p) => p.name === "gotunnel");
    expect(daemon?.capEff).toBe(1n << 10n);
  });

  test("the hosts file was never needed, nor written; no warning about it; doctor says what is set up", async () => {
    expect(readFileSync(hostsFile, "utf8")).toBe(HOSTS_TEXT);
    const status = JSON.parse((await asNobody([binary, "status", "--json"])).stdout);
    expect(status.hosts).toEqual({ path: hostsFile, names: [] });
    const doctor = await asNobody([binary, "doctor", "--json"]);
    const checks = Object.fromEntries(
      (JSON.parse(doctor.stdout).checks as { name: string; ok: boolean; detail: string }[]).map((c) => [c.name, c]),
    );
    expect(checks.daemon).toMatchObject({ ok: true, detail: expect.stringContaining("as nobody") });
    expect(checks["ports 443 and 80"]).toMatchObject({
      ok: true,
      detail: `${binary} has cap_net_bind_service (\`sudo setcap -r ${binary}\` removes it)`,
    });
    expect(checks["hosts file"]).toMatchObject({
      ok: true,
      optional: true,
      detail: expect.stringContaining("not needed"),
    });
    expect(readdirSync(home)).toEqual(["gt"]);
  });

  test("a name outside .localhost and .local is the one case for the hosts file: a warning, and doctor's ACL step", async () => {
    const started = await asNobody([binary, "start", "-d", "x.test", "-p", String(UPSTREAM_PORT), "--json"]);
    expect(started.code).toBe(0);
    expect(started.stderr).toContain("x.test will not resolve on this machine");
    const doctor = JSON.parse((await asNobody([binary, "doctor", "--json"])).stdout);
    const hosts: unknown = (doctor.checks as { name: string }[]).find((check) => check.name === "hosts file");
    expect(hosts).toEqual({
      name: "hosts file",
      optional: true,
      ok: false,
      detail: `x.test need a hosts entry, and ${hostsFile} is not writable by you`,
      fix: `sudo setfacl -m u:nobody:rw ${hostsFile}`,
    });
    expect((await asNobody([binary, "stop", "x.test"])).code).toBe(0);
  }, 30_000);

  const acl = requireTools("setfacl");
  test.skipIf(acl.skip)(
    acl.title("doctor's ACL step lets nobody's daemon keep the block current, and its undo takes it back"),
    async () => {
      // The step, as the user would run it with sudo.
      expect((await run(["setfacl", "-m", `u:nobody:rw`, hostsFile])).code).toBe(0);
      expect((await asNobody([binary, "start", "-d", "x.test", "-p", String(UPSTREAM_PORT)])).code).toBe(0);
      const text = readFileSync(hostsFile, "utf8");
      expect(text.startsWith(HOSTS_TEXT)).toBe(true);
      expect(text).toContain("127.0.0.1 x.test\n");
      expect((await asNobody([binary, "stop", "x.test"])).code).toBe(0);
      expect(readFileSync(hostsFile, "utf8")).not.toContain("x.test");
      expect((await run(["setfacl", "-x", "u:nobody", hostsFile])).code).toBe(0);
      expect((await run(["getfacl", "-p", hostsFile])).stdout).not.toContain("user:nobody:");
    },
    30_000,
  );
});
