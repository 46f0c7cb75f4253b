import "reflect-metadata";
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
} from "@peculiar/x509";
import { GotunnelError } from "../../src/core/errors.ts";
import { CA_VALIDITY_DAYS, CLOCK_SKEW_MS, DAY_MS, type LocalCA, loadCA, loadOrCreateCA } from "../../src/tls/ca.ts";
import { issueLeaf, issuerFor, LEAF_VALIDITY_DAYS } from "../../src/tls/leaf.ts";
import { CertificateStore, RENEW_BEFORE_DAYS } from "../../src/tls/store.ts";
import { requireTools } from "../helpers/tools.ts";

const NOW = new Date("2026-03-01T12:00:00.000Z");
const tempDirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-tls-"));
  tempDirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** These tests read certificates back with the real openssl. */
const opensslTool = requireTools("openssl");

function openssl(args: string[], stdin?: string): { exitCode: number; stdout: string; stderr: string } {
  const result = Bun.spawnSync(["openssl", ...args], { stdin: stdin === undefined ? "ignore" : Buffer.from(stdin) });
  return { exitCode: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

function opensslText(pem: string): string {
  const result = openssl(["x509", "-noout", "-text"], pem);
  expect(result.exitCode).toBe(0);
  return result.stdout;
}

function sanOf(pem: string): { type: string; value: string }[] {
  const san = new X509Certificate(pem).getExtension(SubjectAlternativeNameExtension);
  return (san?.names.items ?? []).map((name) => ({ type: name.type, value: name.value }));
}

/** Every file in dir with its bytes, to prove a failed load changed nothing. */
function snapshot(dir: string): Map<string, string> {
  return new Map(
    readdirSync(dir, { withFileTypes: true }).map((entry) => [
      entry.name,
      entry.isDirectory() ? "<dir>" : readFileSync(join(dir, entry.name)).toString("base64"),
    ]),
  );
}

async function expectTlsError(promise: Promise<unknown>, path: string): Promise<GotunnelError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(GotunnelError);
  const gotunnelError = error as GotunnelError;
  expect(gotunnelError.code).toBe("E_TLS");
  expect(gotunnelError.message).toContain(path);
  expect(gotunnelError.hint).toContain("mv ");
  return gotunnelError;
}

describe("local CA on disk", () => {
  test.skipIf(opensslTool.skip)(
    opensslTool.title("creates a P-256 CA with 0700 dir, 0600 key and the agreed extensions"),
    async () => {
      const caDir = join(tempDir(), "nested", "ca");
      const { ca, created } = await loadOrCreateCA(caDir, { now: NOW });
      expect(created).toBe(true);
      expect(statSync(caDir).mode & 0o777).toBe(0o700);
      expect(statSync(ca.keyPath).mode & 0o777).toBe(0o600);
      expect(readdirSync(caDir).sort()).toEqual(["rootCA-key.pem", "rootCA.pem"]); // no temp files left behind
      expect(readFileSync(ca.certPath, "utf8")).toBe(ca.certPem);
      expect(readFileSync(ca.keyPath, "utf8")).toStartWith("-----BEGIN PRIVATE KEY-----\n");

      const cert = new X509Certificate(ca.certPem);
      expect(ca.commonName).toMatch(/^gotunnel local CA \S+@\S+ \([0-9a-f]{8}\)$/);
      expect(cert.subjectName.getField("O")).toEqual(["gotunnel local development CA"]);
      expect(await cert.isSelfSigned()).toBe(true);
      const basic = cert.getExtension(BasicConstraintsExtension);
      expect([basic?.ca, basic?.pathLength, basic?.critical]).toEqual([true, 0, true]);
      const usage = cert.getExtension(KeyUsagesExtension);
      expect([usage?.usages, usage?.critical]).toEqual([KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true]);
      expect(cert.getExtension(SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/);
      expect(cert.notBefore.getTime()).toBe(NOW.getTime() - CLOCK_SKEW_MS);
      expect(cert.notAfter.getTime()).toBe(NOW.getTime() + CA_VALIDITY_DAYS * DAY_MS);
      expect(cert.serialNumber).toMatch(/^[0-7][0-9a-f]{31}$/); // 16 octets, positive
      expect(ca.serialHex).toBe(cert.serialNumber);

      const text = opensslText(ca.certPem);
      expect(text).toContain("ASN1 OID: prime256v1");
      expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
      expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
      // The key on disk is the certificate's key, as openssl sees it.
      const certPub = openssl(["x509", "-noout", "-pubkey"], ca.certPem).stdout;
      const keyPub = openssl(["pkey", "-pubout"], readFileSync(ca.keyPath, "utf8")).stdout;
      expect(keyPub).toBe(certPub);
    },
  );

  test("reloads the same CA and reports created: false; two CAs get different names", async () => {
    const caDir = join(tempDir(), "ca");
    expect(await loadCA(caDir)).toBeUndefined();
    const first = await loadOrCreateCA(caDir);
    const before = snapshot(caDir);
    const second = await loadOrCreateCA(caDir);
    expect(second.created).toBe(false);
    expect(second.ca.certPem).toBe(first.ca.certPem);
    expect(second.ca.fingerprintSha256).toBe(first.ca.fingerprintSha256);
    expect(snapshot(caDir)).toEqual(before);
    const other = await loadOrCreateCA(join(tempDir(), "ca"));
    expect(other.ca.commonName).not.toBe(first.ca.commonName);
  });

  test("does not expose the private key on the LocalCA value", async () => {
    const { ca } = await loadOrCreateCA(join(tempDir(), "ca"));
    expect(JSON.stringify(ca)).not.toContain("PRIVATE KEY");
    expect(Object.keys(ca).sort()).toEqual(
      ["certPath", "certPem", "commonName", "fingerprintSha256", "keyPath", "notAfter", "notBefore"]
        .concat(["serialHex", "subject", "nameConstraints"]) // nameConstraints: the truststore issue
        .sort(),
    );
  });

  describe("broken CA files: E_TLS naming the file, nothing lost", () => {
    let otherKeyPem: string;
    beforeAll(async () => {
      const dir = mkdtempSync(join(tmpdir(), "gotunnel-tls-other-"));
      otherKeyPem = readFileSync((await loadOrCreateCA(join(dir, "ca"))).ca.keyPath, "utf8");
      rmSync(dir, { recursive: true, force: true });
    });

    const cases: { name: string; damage: (ca: LocalCA) => void; blame: (ca: LocalCA) => string }[] = [
      {
        name: "corrupt certificate",
        damage: (ca) => writeFileSync(ca.certPath, "garbage\n"),
        blame: (ca) => ca.certPath,
      },
      {
        name: "truncated key",
        damage: (ca) => writeFileSync(ca.keyPath, readFileSync(ca.keyPath, "utf8").slice(0, 80)),
        blame: (ca) => ca.keyPath,
      },
      { name: "key of another CA", damage: (ca) => writeFileSync(ca.keyPath, otherKeyPem), blame: (ca) => ca.keyPath },
      { name: "key file missing", damage: (ca) => rmSync(ca.keyPath), blame: (ca) => ca.certPath },
      { name: "certificate missing", damage: (ca) => rmSync(ca.certPath), blame: (ca) => ca.keyPath },
      {
        name: "certificate path unreadable (a directory)",
        damage: (ca) => {
          rmSync(ca.certPath);
          mkdirSync(ca.certPath);
        },
        blame: (ca) => ca.certPath,
      },
    ];

    for (const { name, damage, blame } of cases) {
      test(name, async () => {
        const caDir = join(tempDir(), "ca");
        const { ca } = await loadOrCreateCA(caDir);
        damage(ca);
        const before = snapshot(caDir);
        await expectTlsError(loadOrCreateCA(caDir), blame(ca));
        await expectTlsError(loadCA(caDir), blame(ca));
        expect(snapshot(caDir)).toEqual(before);
      });
    }

    test("expired CA", async () => {
      const caDir = join(tempDir(), "ca");
      const { ca } = await loadOrCreateCA(caDir, { now: NOW });
      const before = snapshot(caDir);
      const later = new Date(ca.notAfter.getTime() + 1000);
      const error = await expectTlsError(loadOrCreateCA(caDir, { now: later }), ca.certPath);
      expect(error.message).toContain("expired");
      expect(snapshot(caDir)).toEqual(before);
    });

    test.skipIf(opensslTool.skip)(opensslTool.title("a certificate that is not a CA (made by openssl)"), async () => {
      const caDir = join(tempDir(), "ca");
      mkdirSync(caDir);
      const keyPath = join(caDir, "rootCA-key.pem");
      const certPath = join(caDir, "rootCA.pem");
      const made = openssl(
        ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"].concat([
          "-keyout",
          keyPath,
          "-out",
          certPath,
          "-subj",
          "/CN=not a ca",
          "-addext",
          "basicConstraints=critical,CA:FALSE",
        ]),
      );
      expect(made.exitCode).toBe(0);
      const before = snapshot(caDir);
      const error = await expectTlsError(loadOrCreateCA(caDir), certPath);
      expect(error.message).toContain("not a CA");
      expect(snapshot(caDir)).toEqual(before);
    });
  });

  test.skipIf(opensslTool.skip)(
    opensslTool.title("loads a P-256 CA made by openssl and issues leaves from it"),
    async () => {
      const caDir = join(tempDir(), "ca");
      mkdirSync(caDir);
      const certPath = join(caDir, "rootCA.pem");
      const made = openssl(
        ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"].concat([
          "-keyout",
          join(caDir, "rootCA-key.pem"),
          "-out",
          certPath,
          "-subj",
          "/CN=openssl CA",
          "-days",
          "30",
        ]),
      );
      expect(made.exitCode).toBe(0);
      const { ca, created } = await loadOrCreateCA(caDir);
      expect(created).toBe(false);
      const leaf = await issueLeaf(ca, ["a.local"]);
      const verified = openssl(["verify", "-CAfile", certPath, "-purpose", "sslserver"], leaf.certPem);
      expect(verified.stdout.trim()).toBe("stdin: OK");
      expect(leaf.notAfter.getTime()).toBe(ca.notAfter.getTime()); // clamped to the CA's own expiry
    },
  );
});

describe("leaf certificates", () => {
  let ca: LocalCA;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "gotunnel-tls-leaf-"));
    ca = (await loadOrCreateCA(join(dir, "ca"), { now: NOW })).ca;
    rmSync(dir, { recursive: true, force: true }); // the key lives on in memory
  });

  test.skipIf(opensslTool.skip)(
    opensslTool.title("a server leaf: SAN, CN, CA:false, digitalSignature, serverAuth, AKI = CA SKI, ≤ 397 days"),
    async () => {
      const leaf = await issueLeaf(ca, ["A.Local", "a.local"], { now: NOW });
      expect(leaf.names).toEqual(["a.local"]);
      const cert = new X509Certificate(leaf.certPem);
      expect(sanOf(leaf.certPem)).toEqual([{ type: "dns", value: "a.local" }]);
      expect(cert.subjectName.getField("CN")).toEqual(["a.local"]);
      expect(cert.getExtension(BasicConstraintsExtension)?.ca).toBe(false);
      const usage = cert.getExtension(KeyUsagesExtension);
      expect([usage?.usages, usage?.critical]).toEqual([KeyUsageFlags.digitalSignature, true]);
      expect(cert.getExtension(ExtendedKeyUsageExtension)?.usages).toEqual([ExtendedKeyUsage.serverAuth]);
      const caCert = new X509Certificate(ca.certPem);
      const caKeyId = caCert.getExtension(SubjectKeyIdentifierExtension)?.keyId;
      expect(cert.getExtension(AuthorityKeyIdentifierExtension)?.keyId).toBe(caKeyId!);
      expect(cert.getExtension(SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/);
      expect(Buffer.from(cert.issuerName.toArrayBuffer())).toEqual(Buffer.from(caCert.subjectName.toArrayBuffer()));
      expect(await cert.verify({ publicKey: caCert.publicKey, signatureOnly: true })).toBe(true);

      expect(leaf.notBefore.getTime()).toBe(NOW.getTime() - CLOCK_SKEW_MS);
      expect(leaf.notAfter.getTime() - leaf.notBefore.getTime()).toBe(LEAF_VALIDITY_DAYS * DAY_MS);
      expect(LEAF_VALIDITY_DAYS).toBeLessThanOrEqual(397);
      expect([cert.notBefore, cert.notAfter]).toEqual([leaf.notBefore, leaf.notAfter]);
      expect(leaf.serialHex).toBe(cert.serialNumber);
      const fingerprint = openssl(["x509", "-noout", "-fingerprint", "-sha256"], leaf.certPem).stdout;
      expect(fingerprint.split("=")[1]?.trim().replaceAll(":", "").toLowerCase()).toBe(leaf.fingerprintSha256);

      const text = opensslText(leaf.certPem);
      expect(text).toMatch(/Subject Alternative Name: \n\s+DNS:a\.local\n/);
      expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
      expect(text).toMatch(/Key Usage: critical\s+Digital Signature\n/);
      expect(text).toMatch(/Extended Key Usage: \n\s+TLS Web Server Authentication\n/);
      expect(leaf.certPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(1); // leaf only
      const keyPub = openssl(["pkey", "-pubout"], leaf.keyPem);
      expect(leaf.keyPem).toStartWith("-----BEGIN PRIVATE KEY-----\n");
      expect(keyPub.stdout).toBe(openssl(["x509", "-noout", "-pubkey"], leaf.certPem).stdout);
    },
  );

  test.skipIf(opensslTool.skip)(
    opensslTool.title("wildcard and IP SANs: IPs as iPAddress, never dNSName"),
    async () => {
      const wild = await issueLeaf(ca, ["foo.local", "*.foo.local"]);
      expect(sanOf(wild.certPem)).toEqual([
        { type: "dns", value: "foo.local" },
        { type: "dns", value: "*.foo.local" },
      ]);
      expect(opensslText(wild.certPem)).toContain("DNS:foo.local, DNS:*.foo.local\n");

      const ips = await issueLeaf(ca, ["localhost", "127.0.0.1", "[::1]", "::FFFF:127.0.0.1"]);
      expect(ips.names).toEqual(["localhost", "127.0.0.1", "::1", "::ffff:7f00:1"]);
      expect(sanOf(ips.certPem)).toEqual([
        { type: "dns", value: "localhost" },
        { type: "ip", value: "127.0.0.1" },
        { type: "ip", value: "::1" },
        { type: "ip", value: "::ffff:7f00:1" },
      ]);
      expect(opensslText(ips.certPem)).toContain(
        "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:0:0:0:0:0:FFFF:7F00:1\n",
      );
    },
  );

  test.skipIf(opensslTool.skip)(
    opensslTool.title("a first name too long for a CN (RFC 5280: 64) goes in a critical SAN only"),
    async () => {
      const long = `${"a".repeat(60)}.local`;
      const leaf = await issueLeaf(ca, [long]);
      expect(new X509Certificate(leaf.certPem).subjectName.getField("CN")).toEqual([]);
      expect(opensslText(leaf.certPem)).toMatch(new RegExp(`Subject Alternative Name: critical\\s+DNS:${long}\\n`));
    },
  );

  test("rejects names that cannot be in a certificate", async () => {
    for (const names of [
      [],
      ["*.local"],
      ["a..local"],
      ["-a.local"],
      ["bad_name.local"],
      ["fe80::1%eth0"],
      ["a.*.local"],
    ]) {
      const error = await issueLeaf(ca, names).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect([names, (error as GotunnelError | undefined)?.code]).toEqual([names, "E_DOMAIN_INVALID"]);
    }
  });
});

describe("CertificateStore", () => {
  let ca: LocalCA;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "gotunnel-tls-store-"));
    ca = (await loadOrCreateCA(join(dir, "ca"))).ca;
    rmSync(dir, { recursive: true, force: true });
  });

  test("one leaf per route, wildcard routes cover the bare name, results cached", async () => {
    const store = new CertificateStore(ca, { issue: issuerFor(ca) });
    const routes = [
      { name: "a.local", wildcard: false },
      { name: "*.w.local", wildcard: true },
    ];
    const entries = await store.entriesFor(routes);
    expect(entries.map((entry) => entry.serverName)).toEqual(["a.local", "w.local", "*.w.local"]);
    expect(store.lastStats).toMatchObject({ issued: 2, reused: 0 });
    expect(entries[1]!.cert).toBe(entries[2]!.cert);
    expect(sanOf(entries[1]!.cert).map((name) => name.value)).toEqual(["w.local", "*.w.local"]);

    const again = await store.entriesFor(routes);
    expect(again).toEqual(entries);
    expect(store.lastStats).toMatchObject({ issued: 0, reused: 2 });
  });

  test("tlsEntries puts the localhost/127.0.0.1/::1 default first; concurrent calls issue once", async () => {
    const store = new CertificateStore(ca, { issue: issuerFor(ca) });
    const routes = [{ name: "b.local", wildcard: false }];
    const [first, second] = await Promise.all([store.tlsEntries(routes), store.tlsEntries(routes)]);
    expect(first).toEqual(second!);
    expect(first.map((entry) => entry.serverName)).toEqual(["localhost", "b.local"]);
    expect(sanOf(first[0]!.cert).map((name) => name.value)).toEqual(["localhost", "127.0.0.1", "::1"]);
    expect((await store.defaultEntry()).cert).toBe(first[0]!.cert);
    expect(store.lastStats).toMatchObject({ issued: 0, reused: 1 });
  });

  test("renews a leaf within RENEW_BEFORE_DAYS of expiry, and after the clock moves back", async () => {
    let now = NOW;
    const store = new CertificateStore(ca, { issue: issuerFor(ca), now: () => now });
    const routes = [{ name: "c.local", wildcard: false }];
    const original = (await store.entriesFor(routes))[0]!.cert;
    const notAfter = new X509Certificate(original).notAfter.getTime();
    expect((await store.nextRenewalAt())?.getTime()).toBe(notAfter - RENEW_BEFORE_DAYS * DAY_MS);

    now = new Date(notAfter - (RENEW_BEFORE_DAYS + 1) * DAY_MS);
    expect((await store.entriesFor(routes))[0]!.cert).toBe(original);
    now = new Date(notAfter - (RENEW_BEFORE_DAYS - 1) * DAY_MS);
    const renewed = (await store.entriesFor(routes))[0]!.cert;
    expect(renewed).not.toBe(original);
    expect(store.lastStats).toMatchObject({ issued: 1, reused: 0 });

    now = new Date(NOW.getTime() - 2 * CLOCK_SKEW_MS); // before the renewed leaf's notBefore
    expect((await store.entriesFor(routes))[0]!.cert).not.toBe(renewed);
  });

  test("a removed route's leaf is served after the routes as a spare, and is the route's again when it returns", async () => {
    const store = new CertificateStore(ca, { issue: issuerFor(ca) });
    const d = [{ name: "d.local", wildcard: false }];
    const e = [{ name: "e.local", wildcard: false }];
    const first = (await store.entriesFor(d))[0]!.cert;
    expect((await store.entriesFor(e)).map((entry) => entry.serverName)).toEqual(["e.local"]);
    expect((await store.tlsEntries(e)).map((entry) => entry.serverName)).toEqual(["localhost", "e.local", "d.local"]);
    expect(store.covers("d.local")).toBe(true);
    expect((await store.entriesFor(d))[0]!.cert).toBe(first);
    expect(store.lastStats).toMatchObject({ issued: 0, reused: 1 });
  });

  test("spares past MAX_SPARE_CERTIFICATES drop the oldest; stale ones are not served", async () => {
    let now = NOW;
    const store = new CertificateStore(ca, { issue: issuerFor(ca), now: () => now, maxSpares: 2 });
    for (const name of ["s1.local", "s2.local", "s3.local"]) await store.issueSpare(name);
    expect((await store.tlsEntries([])).map((entry) => entry.serverName)).toEqual([
      "localhost",
      "s3.local",
      "s2.local",
    ]);
    expect(store.covers("s1.local")).toBe(false);
    now = new Date(NOW.getTime() + (LEAF_VALIDITY_DAYS - RENEW_BEFORE_DAYS + 1) * DAY_MS);
    expect((await store.tlsEntries([])).map((entry) => entry.serverName)).toEqual(["localhost"]);
    expect(store.covers("s3.local")).toBe(false);
  });

  test("issueSpare refuses a name outside the CA's scope, signing nothing", async () => {
    const store = new CertificateStore(ca, { issue: issuerFor(ca) });
    await expect(store.issueSpare("example.com")).rejects.toMatchObject({ code: "E_TLS" });
    expect(store.covers("example.com")).toBe(false);
  });

  test("covers: exact names, and one label under a wildcard route", async () => {
    const store = new CertificateStore(ca, { issue: issuerFor(ca) });
    await store.entriesFor([{ name: "*.w.local", wildcard: true }]);
    expect(["w.local", "a.w.local"].map((name) => store.covers(name))).toEqual([true, true]);
    expect(["b.a.w.local", "x.local"].map((name) => store.covers(name))).toEqual([false, false]);
  });
});
