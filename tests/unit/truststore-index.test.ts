/**
 * The check → act → verify → report loop over stores, store selection per platform, the NSS store's argv, and OS
 * detection. Stores here are fakes or use a fake runner: nothing on the machine changes.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { trace } from "@opentelemetry/api";
import { GotunnelError } from "../../src/core/errors.ts";
import {
  detectOs,
  installCommand,
  isWsl,
  linuxFamily,
  type OsInfo,
  parseOsRelease,
} from "../../src/platform/detect.ts";
import { type CommandRunner, formatCommand } from "../../src/platform/runner.ts";
import type { FinishedSpan } from "../../src/telemetry/otlp-export.ts";
import { GotunnelTracer } from "../../src/telemetry/tracer.ts";
import {
  applyTrust,
  retrust,
  type StoreReport,
  storeContext,
  storeKind,
  trustStores,
} from "../../src/tls/truststore/index.ts";
import { findNssDatabases, nssStore, parseNssListing } from "../../src/tls/truststore/nss.ts";
import type { Change, TrustedCA, TrustStore } from "../../src/tls/truststore/types.ts";

const ca = (id: string): TrustedCA => ({
  certPem: "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n",
  certPath: `/ca/${id}.pem`,
  commonName: `gotunnel local CA test (${id})`,
  fingerprintSha256: id.padEnd(64, "0"),
});

/** An in-memory store: a set of trusted CA names, with optional failure and elevation. */
function memoryStore(id: string, options: { fail?: string; elevation?: string; lies?: boolean } = {}) {
  const trusted = new Set<string>();
  const log: string[] = [];
  const store: TrustStore = {
    id,
    name: `store ${id}`,
    detect: async () => ({ ok: true }),
    isTrusted: async (c) => trusted.has(c.commonName),
    elevation: () => options.elevation,
    async install(c): Promise<Change> {
      log.push(`install ${c.commonName}`);
      if (options.fail) throw new GotunnelError("E_TLS", options.fail, { hint: "fix it" });
      if (!options.lies) trusted.add(c.commonName);
      return { changed: true };
    },
    async uninstall(c): Promise<Change> {
      log.push(`uninstall ${c.commonName}`);
      trusted.delete(c.commonName);
      return { changed: true };
    },
  };
  return { store, trusted, log };
}

const statuses = (reports: StoreReport[]) => reports.map((report) => report.status);

describe("applyTrust", () => {
  test("trust, trust again, untrust, untrust again: changed, already, changed, already", async () => {
    const a = memoryStore("a");
    const b = memoryStore("b");
    const stores = [a.store, b.store];
    expect(statuses(await applyTrust("trust", ca("1"), stores))).toEqual(["changed", "changed"]);
    expect(statuses(await applyTrust("trust", ca("1"), stores))).toEqual(["already", "already"]);
    expect(statuses(await applyTrust("untrust", ca("1"), stores))).toEqual(["changed", "changed"]);
    expect(statuses(await applyTrust("untrust", ca("1"), stores))).toEqual(["already", "already"]);
    expect(a.log).toEqual(["install gotunnel local CA test (1)", "uninstall gotunnel local CA test (1)"]);
  });

  test("unavailable → skipped with reason and fix; a failing command → failed, and the next store still runs", async () => {
    const missing: TrustStore = {
      ...memoryStore("m").store,
      detect: async () => ({ ok: false, reason: "certutil is not installed", fix: "sudo apt install libnss3-tools" }),
    };
    const broken = memoryStore("x", { fail: "Could not add" });
    const fine = memoryStore("f");
    const reports = await applyTrust("trust", ca("1"), [missing, broken.store, fine.store]);
    expect(reports).toEqual([
      {
        id: "m",
        name: "store m",
        status: "skipped",
        reason: "certutil is not installed",
        fix: "sudo apt install libnss3-tools",
      },
      { id: "x", name: "store x", status: "failed", reason: "Could not add", fix: "fix it" },
      { id: "f", name: "store f", status: "changed" },
    ]);
  });

  test("a store whose commands exit 0 but change nothing is reported as failed, not trusted", async () => {
    const liar = memoryStore("l", { lies: true });
    expect(statuses(await applyTrust("trust", ca("1"), [liar.store]))).toEqual(["failed"]);
  });

  test("elevation is announced once per store, before it is changed, and never when nothing changes", async () => {
    const root = memoryStore("r", { elevation: "needs sudo" });
    const events: string[] = [];
    const hooks = { onElevation: (s: TrustStore, m: string) => events.push(`${s.id}: ${m}`) };
    root.log.push = (...items: string[]) => events.push(...items);
    await applyTrust("trust", ca("1"), [root.store], hooks);
    await applyTrust("trust", ca("1"), [root.store], hooks);
    expect(events).toEqual(["r: needs sudo", "install gotunnel local CA test (1)"]);
  });

  test("each store gets a span naming its kind, label and status; a failed store's span is an error", async () => {
    const finished: FinishedSpan[] = [];
    const tracer = new GotunnelTracer(1, (span) => finished.push(span));
    expect(trace.setGlobalTracerProvider({ getTracer: () => tracer })).toBe(true);
    try {
      const stores = [memoryStore("system").store, memoryStore("java:/opt/jdk", { fail: "keytool said no" }).store];
      await applyTrust("trust", ca("1"), stores);
    } finally {
      trace.disable();
    }
    const summary = finished.map((span) => [
      span.name,
      span.attributes["gotunnel.trust.store"],
      span.attributes["gotunnel.trust.store_name"],
      span.attributes["gotunnel.trust.status"],
      span.statusCode,
    ]);
    expect(summary).toEqual([
      ["ca trust", "system", "store system", "changed", 0],
      ["ca trust", "java", "store java:/opt/jdk", "failed", 2],
    ]);
    expect(finished[1]?.statusMessage).toBe("keytool said no");
  });

  test("retrust after a rotation: new CA where the old one was, old one removed; kept where the new one failed", async () => {
    const good = memoryStore("good");
    const bad = memoryStore("bad");
    const never = memoryStore("never");
    good.trusted.add(ca("old").commonName);
    bad.trusted.add(ca("old").commonName);
    bad.store.install = async () => {
      throw new GotunnelError("E_TLS", "nope");
    };
    const { trusted, untrusted } = await retrust(ca("old"), ca("new"), [good.store, bad.store, never.store]);
    expect(statuses(trusted)).toEqual(["changed", "failed"]);
    expect(statuses(untrusted)).toEqual(["changed"]);
    expect([...good.trusted]).toEqual([ca("new").commonName]);
    expect([...bad.trusted]).toEqual([ca("old").commonName]);
    expect(never.trusted.size).toBe(0);
  });
});

const temps: string[] = [];
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function recorder(programs: string[], listing = "") {
  const calls: string[][] = [];
  const runner: CommandRunner = {
    which: (program) => (programs.includes(program) ? `/usr/bin/${program}` : undefined),
    run: async (argv) => {
      calls.push(argv);
      return { code: 0, stdout: argv[1] === "-L" ? listing : "", stderr: "" };
    },
  };
  return { runner, calls };
}

const os = (platform: NodeJS.Platform, wsl = false): OsInfo => ({
  platform,
  family: platform === "linux" ? "debian" : "unknown",
  distro: undefined,
  wsl,
});

describe("store selection (index.ts is the only reader of process.platform)", () => {
  const ids = (platform: NodeJS.Platform, wsl = false, programs: string[] = []) => {
    const home = mkdtempSync(join(tmpdir(), "gotunnel-home-"));
    temps.push(home);
    const context = storeContext({ runner: recorder(programs).runner, os: os(platform, wsl), home, env: {} });
    return trustStores(context).map((store) => store.id);
  };

  test("per platform, system store first and Java last", () => {
    expect(ids("darwin")).toEqual(["keychain", "java"]);
    expect(ids("win32")).toEqual(["windows", "java"]);
    expect(ids("linux")).toEqual(["system", "java"]);
    expect(ids("linux", true)).toEqual(["system", "wsl-windows", "java"]);
    expect(ids("linux", false, ["chromium"]).map((id) => id.split(":")[0])).toEqual(["system", "nss", "java"]);
  });

  test("--store picks kinds; WSL's Windows store counts as windows", () => {
    const context = storeContext({ runner: recorder([]).runner, os: os("linux", true), home: "/nonexistent", env: {} });
    expect(trustStores(context, ["windows"]).map(storeKind)).toEqual(["windows"]);
    expect(trustStores(context, ["system", "java"]).map((store) => store.id)).toEqual(["system", "java"]);
  });
});

describe("which NSS databases Chromium-family browsers read on Linux", () => {
  const found = (home: string, programs: string[], env: Record<string, string> = {}) =>
    findNssDatabases(storeContext({ runner: recorder(programs).runner, os: os("linux"), home, env })).map((db) => [
      db.dir.slice(home.length + 1),
      db.createIfMissing,
    ]);
  const homeWith = (...dirs: string[]) => {
    const home = mkdtempSync(join(tmpdir(), "gotunnel-nssdb-"));
    temps.push(home);
    for (const dir of dirs) mkdirSync(join(home, dir), { recursive: true });
    return home;
  };

  test("chromium installed, no database yet: ~/.pki/nssdb, to be created", () => {
    expect(found(homeWith(), ["chromium"])).toEqual([[".pki/nssdb", true]]);
  });

  test("only the newer ~/.local/share/pki/nssdb exists: that one, and ~/.pki/nssdb is not created (it would shadow it)", () => {
    expect(found(homeWith(".local/share/pki/nssdb"), ["chromium"])).toEqual([[".local/share/pki/nssdb", false]]);
  });

  test("$XDG_DATA_HOME moves it, as NSS's own lookup does", () => {
    const home = homeWith("data/pki/nssdb");
    expect(found(home, ["google-chrome"], { XDG_DATA_HOME: join(home, "data") })).toEqual([["data/pki/nssdb", false]]);
  });

  test("both exist: both get the CA (NSS reads ~/.pki/nssdb, Chromium builds with the XDG patch the other)", () => {
    expect(found(homeWith(".pki/nssdb", ".local/share/pki/nssdb"), [])).toEqual([
      [".pki/nssdb", true],
      [".local/share/pki/nssdb", false],
    ]);
  });

  test("snap and flatpak browsers: their own databases, when they exist", () => {
    const home = homeWith(
      "snap/chromium/current/.pki/nssdb",
      "snap/chromium/current/.local/share/pki/nssdb",
      ".var/app/org.chromium.Chromium/.pki/nssdb",
      ".var/app/com.google.Chrome/data/pki/nssdb",
      ".var/app/com.brave.Browser/cache",
    );
    expect(found(home, [])).toEqual([
      ["snap/chromium/current/.pki/nssdb", false],
      ["snap/chromium/current/.local/share/pki/nssdb", false],
      [".var/app/org.chromium.Chromium/.pki/nssdb", false],
      [".var/app/com.google.Chrome/data/pki/nssdb", false],
    ]);
  });
});

describe("NSS store argv (fake runner)", () => {
  test("certutil -A -d sql:<dir> -t C,, -n <our nickname> -i <ca.pem>, -D to undo; the fix names the package", async () => {
    const home = mkdtempSync(join(tmpdir(), "gotunnel-nss-unit-"));
    temps.push(home);
    const profile = join(home, ".mozilla", "firefox", "p1.default");
    mkdirSync(profile, { recursive: true });
    writeFileSync(join(profile, "cert9.db"), "");
    const { runner, calls } = recorder(["certutil"]);
    const context = storeContext({ runner, os: os("linux"), home, env: {} });
    const [database] = findNssDatabases(context); // no chromium on PATH: Firefox only
    expect(database?.label).toBe("Firefox profile p1.default");
    const store = nssStore(context, database!);
    await store.install(ca("1"));
    await store.uninstall(ca("1"));
    expect(calls).toEqual([
      ["certutil", "-A", "-d", `sql:${profile}`, "-t", "C,,", "-n", ca("1").commonName, "-i", "/ca/1.pem"],
      ["certutil", "-D", "-d", `sql:${profile}`, "-n", ca("1").commonName],
    ]);
    const without = nssStore(storeContext({ runner: recorder([]).runner, os: os("linux"), home, env: {} }), database!);
    expect(await without.detect()).toMatchObject({ ok: false, fix: "sudo apt install libnss3-tools" });
  });

  test.skipIf(process.getuid?.() !== 0)(
    "under sudo, certutil runs as the invoking user (setpriv on Linux, sudo -u on macOS) and reads the CA from stdin",
    async () => {
      const home = mkdtempSync(join(tmpdir(), "gotunnel-nss-unit-"));
      temps.push(home);
      const profile = join(home, ".mozilla", "firefox", "p1.default");
      mkdirSync(profile, { recursive: true });
      writeFileSync(join(profile, "cert9.db"), "");
      const env = { SUDO_USER: "dev", SUDO_UID: "1000", SUDO_GID: "1000" };
      for (const [platform, prefix] of [
        ["linux", ["setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "--"]],
        ["darwin", ["sudo", "-n", "-u", "#1000", "--"]],
      ] as const) {
        const { runner, calls } = recorder(["certutil"]);
        const database = { dir: profile, label: "Firefox profile p1.default", createIfMissing: false };
        const store = nssStore(storeContext({ runner, os: os(platform), home, env }), database);
        await store.install(ca("1"));
        expect(calls).toEqual([
          [...prefix, "certutil", "-A", "-d", `sql:${profile}`, "-t", "C,,", "-n", ca("1").commonName, "-a"],
        ]);
      }
    },
  );

  test("parses certutil -L: nicknames with spaces and parentheses, and their trust flags", () => {
    const text = [
      "",
      "Certificate Nickname                                         Trust Attributes",
      "                                                             SSL,S/MIME,JAR/XPI",
      "",
      "gotunnel local CA ada@laptop (1a2b3c4d)                      C,,  ",
      "Corp Root                                                    CT,C,C",
    ].join("\n");
    expect(parseNssListing(text)).toEqual(
      new Map([
        ["gotunnel local CA ada@laptop (1a2b3c4d)", "C,,"],
        ["Corp Root", "CT,C,C"],
      ]),
    );
  });
});

describe("OS detection", () => {
  test("families from ID and ID_LIKE", () => {
    const family = (text: string) => linuxFamily(parseOsRelease(text));
    expect(family('ID=ubuntu\nID_LIKE=debian\nPRETTY_NAME="Ubuntu 24.04 LTS"')).toBe("debian");
    expect(family('ID=linuxmint\nID_LIKE="ubuntu debian"')).toBe("debian");
    expect(family('ID="rocky"\nID_LIKE="rhel centos fedora"')).toBe("fedora");
    expect(family("ID=fedora")).toBe("fedora");
    expect(family("ID=manjaro\nID_LIKE=arch")).toBe("arch");
    expect(family('ID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"')).toBe("suse");
    expect(family("ID=alpine")).toBe("alpine");
    expect(family("ID=nixos")).toBe("unknown");
  });

  test("WSL from the kernel release or the environment; install commands per OS", () => {
    expect(isWsl("5.15.153.1-microsoft-standard-WSL2", {})).toBe(true);
    expect(isWsl("4.4.0-19041-Microsoft", {})).toBe(true);
    expect(isWsl("6.1.0-18-amd64", {})).toBe(false);
    expect(isWsl(undefined, { WSL_DISTRO_NAME: "Ubuntu" })).toBe(true);
    const files: Record<string, string> = { "/usr/lib/os-release": "ID=fedora\n", "/proc/sys/kernel/osrelease": "6.8" };
    const info = detectOs({ platform: "linux", env: {}, readText: (path) => files[path] });
    expect(info).toEqual({ platform: "linux", family: "fedora", distro: "fedora", wsl: false });
    expect(installCommand(info, { fedora: "nss-tools" })).toBe("sudo dnf install nss-tools");
    expect(installCommand({ ...info, platform: "darwin" }, { darwin: "nss" })).toBe("brew install nss");
    expect(installCommand({ ...info, family: "unknown" }, { debian: "x" })).toBeUndefined();
    expect(formatCommand(["sudo", "tee", "/a b/it's"])).toBe("sudo tee '/a b/it'\\''s'");
  });
});

test("no trust-store module but index.ts reads process.platform (STYLE.md 1)", () => {
  const dir = join(import.meta.dir, "..", "..", "src", "tls", "truststore");
  const readers = ["darwin", "doctor", "index", "java", "linux", "nss", "types", "windows", "wsl"].filter((name) =>
    readFileSync(join(dir, `${name}.ts`), "utf8").includes("process.platform"),
  );
  expect(readers).toEqual(["index"]);
});
