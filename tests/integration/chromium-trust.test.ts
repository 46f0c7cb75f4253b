/**
 * A real browser: Debian's headless Chromium, with HOME pointing at a temp home whose NSS database is filled by the
 * compiled `gotunnel trust --store nss`: the one Chromium made on its first TLS check (Chromium 156 creates
 * `~/.local/share/pki/nssdb` when neither it nor `~/.pki/nssdb` exists), or `~/.pki/nssdb`, created, if none. It loads https://myapp.local:<port>/ with no interstitial
 * (DOM checked with --dump-dom, a screenshot saved under .artifacts/), and refuses evil.example.com signed by the
 * same name-constrained CA (its net log names the reason). A control CA without constraints, trusted the same way,
 * gets evil-looking names accepted: the refusal is the constraint, not something else about the certificate.
 * gotunnel runs inside a private mount namespace over copies of the system store directories, as a second guard.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Server } from "bun";
import { CLOCK_SKEW_MS, caIssuerKey, DAY_MS, type LocalCA, loadCA } from "../../src/tls/ca.ts";
import { issueLeaf } from "../../src/tls/leaf.ts";
import { createCaCertificatePem, createLeafCertificate, derToPem, generateKeyPair } from "../../src/tls/x509.ts";
import { type Run, run } from "../helpers/process.ts";
import { requireAll, requireRoot, requireTools } from "../helpers/tools.ts";

const REPO = resolve(import.meta.dir, "..", "..");
const ARTIFACTS = join(REPO, ".artifacts");
const ANCHORS = "/usr/local/share/ca-certificates";
const CERTS = "/etc/ssl/certs";
const PAGE_TEXT = "hello from gotunnel";
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--host-resolver-rules=MAP myapp.local 127.0.0.1, MAP evil.example.com 127.0.0.1, MAP legacy.example.com 127.0.0.1",
];
const ready = requireAll(
  requireRoot("make a private mount namespace"),
  requireTools("chromium", "certutil", "unshare", "mount"),
);

/** Test helper: a leaf signed straight with a CA's key, skipping issueLeaf's nameConstraints check. */
async function signDirectly(ca: LocalCA, name: string): Promise<{ cert: string; key: string }> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const { pem } = await createLeafCertificate({
    issuer: caIssuerKey(ca),
    publicKey: keys.publicKey,
    commonName: name,
    dnsNames: [name],
    ipAddresses: [],
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter: new Date(now + 30 * DAY_MS),
  });
  return { cert: pem, key: derToPem(await crypto.subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY") };
}

/** A CA as gotunnel made them before constraints existed, written where GOTUNNEL_HOME expects it. */
async function writeUnconstrainedCa(gotunnelHome: string): Promise<void> {
  const caDir = join(gotunnelHome, "ca");
  mkdirSync(caDir, { recursive: true, mode: 0o700 });
  const keys = await generateKeyPair();
  const now = Date.now();
  const certPem = await createCaCertificatePem({
    keys,
    commonName: "gotunnel local CA control@test (c0c0c0c0)",
    organization: "gotunnel local development CA",
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter: new Date(now + 30 * DAY_MS),
  });
  const keyPem = derToPem(await crypto.subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY");
  writeFileSync(join(caDir, "rootCA-key.pem"), keyPem, { mode: 0o600 });
  writeFileSync(join(caDir, "rootCA.pem"), certPem);
}

let work = "";
let binary = "";
let home = "";
let server: Server<undefined>;
const homes = { constrained: "", control: "" };

function gotunnel(gotunnelHome: string, ...args: string[]): Promise<Run> {
  const copies = [join(work, "anchors"), join(work, "certs")];
  const script = `mount --bind "$1" ${ANCHORS} && mount --bind "$2" ${CERTS} && shift 2 && exec "$@"`;
  const argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", ...copies, binary, ...args];
  return run(argv, { HOME: home, GOTUNNEL_HOME: gotunnelHome, NO_COLOR: "1" });
}

/** The NSS databases present in the temp home, the XDG one first. */
function chromiumDatabases(): string[] {
  return [join(home, ".local", "share", "pki", "nssdb"), join(home, ".pki", "nssdb")].filter((dir) => existsSync(dir));
}

async function chromium(name: string, mode: "dump-dom" | "screenshot"): Promise<Run & { netLog: string }> {
  const profile = mkdtempSync(join(work, "profile-"));
  const netLogPath = join(profile, "net-log.json");
  const output = mode === "dump-dom" ? ["--dump-dom"] : [`--screenshot=${join(ARTIFACTS, `chromium-${name}.png`)}`];
  const argv = ["chromium", ...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, `--log-net-log=${netLogPath}`, ...output];
  const result = await run([...argv, `https://${name}:${server.port}/`], { HOME: home });
  return { ...result, netLog: existsSync(netLogPath) ? readFileSync(netLogPath, "utf8") : "" };
}

describe.skipIf(ready.skip)(ready.title("headless Chromium trusts the CA through its NSS database"), () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "gotunnel-chromium-"));
    mkdirSync(ARTIFACTS, { recursive: true });
    binary = join(work, "gotunnel");
    const build = await run([process.execPath, join(REPO, "scripts", "build.ts"), "--outfile", binary]);
    if (build.code !== 0) throw new Error(`build failed:\n${build.stdout}${build.stderr}`);
    cpSync(ANCHORS, join(work, "anchors"), { recursive: true, verbatimSymlinks: true });
    cpSync(CERTS, join(work, "certs"), { recursive: true, verbatimSymlinks: true });
    home = join(work, "home");
    mkdirSync(home);
    homes.constrained = join(work, "gotunnel-home");
    homes.control = join(work, "control-home");
    expect((await gotunnel(homes.constrained, "ca")).code).toBe(0);
    await writeUnconstrainedCa(homes.control);
    const ca = (await loadCA(join(homes.constrained, "ca")))!;
    const control = (await loadCA(join(homes.control, "ca")))!;
    const good = await issueLeaf(ca, ["myapp.local"]);
    const evil = await signDirectly(ca, "evil.example.com");
    const legacy = await signDirectly(control, "legacy.example.com");
    server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      tls: [
        { serverName: "myapp.local", cert: good.certPem, key: good.keyPem },
        { serverName: "evil.example.com", ...evil },
        { serverName: "legacy.example.com", ...legacy },
      ],
      fetch: (request) =>
        new Response(`<!doctype html><title>gotunnel</title><h1>${PAGE_TEXT} ${new URL(request.url).hostname}</h1>`, {
          headers: { "content-type": "text/html" },
        }),
    });
  }, 120_000);

  afterAll(async () => {
    await server?.stop(true);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("before trust: Chromium shows no page content for myapp.local (unknown issuer)", async () => {
    const result = await chromium("myapp.local", "dump-dom");
    expect(result.stdout).not.toContain(PAGE_TEXT);
    expect(result.stderr).toContain("ERR_CERT_AUTHORITY_INVALID");
  }, 60_000);

  test("gotunnel trust --store nss fills the database Chromium reads, and creates no second one", async () => {
    const made = chromiumDatabases();
    const expected = made[0] ?? join(home, ".pki", "nssdb");
    for (const gotunnelHome of [homes.constrained, homes.control]) {
      const result = await gotunnel(gotunnelHome, "trust", "--store", "nss", "--json");
      expect(result.code).toBe(0);
      const stores = JSON.parse(result.stdout).stores as { id: string; status: string }[];
      expect(stores.map((store) => [store.id, store.status])).toEqual([[`nss:${expected}`, "changed"]]);
    }
    // A ~/.pki/nssdb made next to the XDG one would shadow it (NSS prefers it when it exists).
    expect(chromiumDatabases()).toEqual([expected]);
  }, 60_000);

  test("myapp.local loads with no interstitial: page text in the DOM, screenshot saved", async () => {
    const dom = await chromium("myapp.local", "dump-dom");
    expect(dom.stdout).toContain(`${PAGE_TEXT} myapp.local`);
    expect(dom.stderr).not.toContain("ERR_CERT");
    const shot = await chromium("myapp.local", "screenshot");
    const png = readFileSync(join(ARTIFACTS, "chromium-myapp.local.png"));
    expect(shot.code).toBe(0);
    expect(png.subarray(1, 4).toString()).toBe("PNG");
  }, 60_000);

  test("evil.example.com, signed by the same constrained CA, is refused: not permitted by name constraints", async () => {
    const dom = await chromium("evil.example.com", "dump-dom");
    expect(dom.stdout).not.toContain(PAGE_TEXT);
    expect(dom.stderr).toContain("ERR_CERT_INVALID");
    expect(dom.netLog).toContain("Not permitted by name constraints");
  }, 60_000);

  test("control: the same kind of leaf from an unconstrained trusted CA is accepted", async () => {
    const dom = await chromium("legacy.example.com", "dump-dom");
    expect(dom.stdout).toContain(`${PAGE_TEXT} legacy.example.com`);
  }, 60_000);

  test("untrust --store nss: Chromium refuses myapp.local again", async () => {
    for (const gotunnelHome of [homes.constrained, homes.control]) {
      expect((await gotunnel(gotunnelHome, "untrust", "--store", "nss")).code).toBe(0);
    }
    const listing = await run(["certutil", "-L", "-d", `sql:${chromiumDatabases()[0]}`]);
    expect(listing.stdout).not.toContain("gotunnel local CA");
    const result = await chromium("myapp.local", "dump-dom");
    expect(result.stdout).not.toContain(PAGE_TEXT);
    expect(result.stderr).toContain("ERR_CERT_AUTHORITY_INVALID");
  }, 60_000);
});
