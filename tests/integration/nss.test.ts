/**
 * The NSS store with the real `certutil` on temp databases in a temp HOME: Chromium's ~/.pki/nssdb and Firefox
 * profiles in the classic, snap and flatpak locations. Another CA already in a database must survive untouched, and
 * `untrust` must leave every database's listing exactly as it was before `trust`.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { OsInfo } from "../../src/platform/detect.ts";
import { type LocalCA, loadOrCreateCA } from "../../src/tls/ca.ts";
import { applyTrust, type StoreReport, storeContext, type TrustStore } from "../../src/tls/truststore/index.ts";
import { findNssDatabases, nssStore } from "../../src/tls/truststore/nss.ts";
import { requireTools } from "../helpers/tools.ts";

const DEBIAN: OsInfo = { platform: "linux", family: "debian", distro: "Debian GNU/Linux 12", wsl: false };
const certutilTool = requireTools("certutil");
const NOBODY = 65_534;

let dir: string;
let home: string;
let ca: LocalCA;
let other: LocalCA;
let stores: TrustStore[];
const profiles: string[] = [];

function certutil(...args: string[]) {
  const result = Bun.spawnSync(["certutil", ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

function createDb(path: string): void {
  mkdirSync(path, { recursive: true });
  expect(certutil("-N", "-d", `sql:${path}`, "--empty-password").code).toBe(0);
}

function listings(): string[] {
  return profiles.map((path) => certutil("-L", "-d", `sql:${path}`).stdout);
}

const statuses = (reports: StoreReport[]) => reports.map((report) => report.status);

describe.skipIf(certutilTool.skip)(certutilTool.title("NSS databases with the real certutil"), () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "gotunnel-nss-"));
    home = join(dir, "home");
    ca = (await loadOrCreateCA(join(dir, "ca"))).ca;
    other = (await loadOrCreateCA(join(dir, "other-ca"))).ca;
    profiles.push(
      join(home, ".pki", "nssdb"),
      join(home, ".mozilla", "firefox", "abc.default-release"),
      join(home, "snap", "firefox", "common", ".mozilla", "firefox", "snap1.default"),
      join(home, ".var", "app", "org.mozilla.firefox", ".mozilla", "firefox", "flat1.default"),
    );
    for (const profile of profiles) createDb(profile);
    // A Firefox profile from before Firefox 58 (cert8.db only) is not an NSS sql database: not ours to touch.
    mkdirSync(join(home, ".mozilla", "firefox", "legacy.default"), { recursive: true });
    writeFileSync(join(home, ".mozilla", "firefox", "legacy.default", "cert8.db"), "");
    // Someone else's CA in the Firefox profile: untrust must leave it alone.
    expect(certutil("-A", "-d", `sql:${profiles[1]}`, "-t", "C,,", "-n", "Corp Root", "-i", other.certPath).code).toBe(
      0,
    );
    const context = storeContext({ home, os: DEBIAN, env: {}, isRoot: false });
    stores = findNssDatabases(context).map((database) => nssStore(context, database));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("finds Chromium's db and the classic, snap and flatpak Firefox profiles (not the cert8.db one)", () => {
    const found = stores.map((store) => store.id.replace(home, "~"));
    expect(found.sort()).toEqual(profiles.map((path) => `nss:${path.replace(home, "~")}`).sort());
  }, 30_000);

  test("trust → C,, under our nickname in every db; again → already, and the listings do not change", async () => {
    const before = listings();
    expect(statuses(await applyTrust("trust", ca, stores))).toEqual(["changed", "changed", "changed", "changed"]);
    const trusted = listings();
    for (const listing of trusted) expect(listing).toMatch(new RegExp(`${escapeRegExp(ca.commonName)}\\s+C,,`));
    expect(trusted[1]).toContain("Corp Root");
    expect(statuses(await applyTrust("trust", ca, stores))).toEqual(["already", "already", "already", "already"]);
    expect(listings()).toEqual(trusted);
    expect(statuses(await applyTrust("untrust", ca, stores))).toEqual(["changed", "changed", "changed", "changed"]);
    expect(listings()).toEqual(before);
    expect(statuses(await applyTrust("untrust", ca, stores))).toEqual(["already", "already", "already", "already"]);
  }, 30_000);

  test("our entry with its trust removed is repaired by trust, and removed by untrust", async () => {
    const before = listings();
    const db = `sql:${profiles[0]}`;
    expect(certutil("-A", "-d", db, "-t", ",,", "-n", ca.commonName, "-i", ca.certPath).code).toBe(0);
    expect(await stores[0]!.isTrusted(ca)).toBe(false);
    expect(statuses(await applyTrust("untrust", ca, stores.slice(0, 1)))).toEqual(["changed"]);
    expect(listings()).toEqual(before);
    expect(certutil("-A", "-d", db, "-t", ",,", "-n", ca.commonName, "-i", ca.certPath).code).toBe(0);
    expect(statuses(await applyTrust("trust", ca, stores.slice(0, 1)))).toEqual(["changed"]);
    expect(await stores[0]!.isTrusted(ca)).toBe(true);
    expect(statuses(await applyTrust("untrust", ca, stores.slice(0, 1)))).toEqual(["changed"]);
    expect(listings()).toEqual(before);
  }, 30_000);

  test("Chromium's db is created when missing (a fresh HOME with chromium installed)", async () => {
    const freshHome = join(dir, "fresh-home");
    mkdirSync(freshHome);
    const context = storeContext({ home: freshHome, os: DEBIAN, env: {}, isRoot: false });
    const databases = findNssDatabases(context);
    // chromium is installed on this machine, so its db is a target even before it exists.
    expect(databases.map((database) => database.dir)).toEqual([join(freshHome, ".pki", "nssdb")]);
    const store = nssStore(context, databases[0]!);
    expect(await store.isTrusted(ca)).toBe(false);
    expect(statuses(await applyTrust("trust", ca, [store]))).toEqual(["changed"]);
    expect(certutil("-L", "-d", `sql:${join(freshHome, ".pki", "nssdb")}`).stdout).toContain(ca.commonName);
  }, 30_000);

  test.skipIf(process.getuid?.() !== 0)(
    "under sudo, the db Chromium's first start never made is created as the invoking user's (~/.pki included)",
    async () => {
      // certutil runs as nobody under sudo: their home must be reachable for them, as a real home is.
      chmodSync(dir, 0o755);
      const freshHome = join(dir, "sudo-home");
      mkdirSync(freshHome);
      chownSync(freshHome, NOBODY, NOBODY);
      const env = { SUDO_USER: "nobody", SUDO_UID: String(NOBODY), SUDO_GID: String(NOBODY) };
      const context = storeContext({ home: freshHome, os: DEBIAN, env, isRoot: true });
      const store = nssStore(context, findNssDatabases(context)[0]!);
      expect(statuses(await applyTrust("trust", ca, [store]))).toEqual(["changed"]);
      const owners = readdirSync(freshHome, { recursive: true }).map((path) => [
        path,
        statSync(join(freshHome, String(path))).uid,
      ]);
      expect(owners.filter(([, uid]) => uid !== NOBODY)).toEqual([]);
      expect(owners.map(([path]) => path)).toContain(join(".pki", "nssdb", "cert9.db"));
    },
    30_000,
  );

  test.skipIf(process.getuid?.() !== 0)(
    "under sudo, certutil runs as the invoking user: a db file they linked into root's directory is never created as root",
    async () => {
      chmodSync(dir, 0o755);
      const userHome = join(dir, "planted-home");
      const nssdb = join(userHome, ".pki", "nssdb");
      mkdirSync(nssdb, { recursive: true });
      for (const path of [userHome, join(userHome, ".pki"), nssdb]) chownSync(path, NOBODY, NOBODY);
      // A link to where no file is yet, in root's directory: certutil -N, run as root, would create it there.
      const victim = join(dir, "root-only.db");
      symlinkSync(victim, join(nssdb, "cert9.db"));
      const env = { SUDO_USER: "nobody", SUDO_UID: String(NOBODY), SUDO_GID: String(NOBODY) };
      const context = storeContext({ home: userHome, os: DEBIAN, env, isRoot: true });
      const store = nssStore(context, findNssDatabases(context)[0]!);
      await applyTrust("trust", ca, [store]);
      expect(existsSync(victim)).toBe(false);
    },
    30_000,
  );
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
