/**
 * The name-constrained CA against real TLS clients. A leaf for an in-scope name verifies; a leaf for example.com,
 * signed by the SAME CA directly (bypassing issueLeaf's check, as a thief holding rootCA-key.pem would), is refused
 * by every client that enforces RFC 5280 nameConstraints on a trust anchor: OpenSSL (openssl, curl, node), Bun's
 * BoringSSL and NSS. Java's JSSE does not enforce them on a trust anchor: the last test shows that, so nobody
 * relies on it there.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import type { Server } from "bun";
import { GotunnelError } from "../../src/core/errors.ts";
import {
  CLOCK_SKEW_MS,
  caCertPath,
  caIssuerKey,
  DAY_MS,
  type LocalCA,
  loadCA,
  loadOrCreateCA,
} from "../../src/tls/ca.ts";
import { issueLeaf } from "../../src/tls/leaf.ts";
import { rotateCA } from "../../src/tls/lifecycle.ts";
import { createCaCertificatePem, createLeafCertificate, derToPem, generateKeyPair } from "../../src/tls/x509.ts";
import { requireTools } from "../helpers/tools.ts";

const nodeTool = requireTools("node");
const certutilTool = requireTools("certutil");
const javaTool = requireTools("java");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[], input?: string): Promise<Run> {
  const child = Bun.spawn(argv, {
    stdin: input === undefined ? "ignore" : Buffer.from(input),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, stdout, stderr };
}

/** Test helper: a leaf signed straight with the CA's key, skipping issueLeaf's nameConstraints check. */
async function signDirectly(ca: LocalCA, dnsNames: string[]): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const { pem } = await createLeafCertificate({
    issuer: caIssuerKey(ca),
    publicKey: keys.publicKey,
    commonName: dnsNames[0],
    dnsNames,
    ipAddresses: [],
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter: new Date(now + 30 * DAY_MS),
  });
  return { certPem: pem, keyPem: derToPem(await crypto.subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY") };
}

let dir: string;
let ca: LocalCA;
let server: Server<undefined>;
const files = { good: "", ip: "", evil: "" };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gotunnel-nc-"));
  ca = (await loadOrCreateCA(join(dir, "ca"))).ca;
  const good = await issueLeaf(ca, ["myapp.local"]);
  const ip = await issueLeaf(ca, ["127.0.0.1", "::1"]);
  const evil = await signDirectly(ca, ["example.com"]);
  Object.assign(files, { good: join(dir, "good.pem"), ip: join(dir, "ip.pem"), evil: join(dir, "evil.pem") });
  writeFileSync(files.good, good.certPem);
  writeFileSync(files.ip, ip.certPem);
  writeFileSync(files.evil, evil.certPem);
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    tls: [
      { serverName: "myapp.local", cert: good.certPem, key: good.keyPem },
      { serverName: "example.com", cert: evil.certPem, key: evil.keyPem },
    ],
    fetch: (request) => new Response(`hello ${new URL(request.url).hostname}`),
  });
});

afterAll(async () => {
  await server?.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

describe("a new CA is name-constrained", () => {
  test("critical nameConstraints: the dev-only suffixes and private IP ranges (as openssl prints them)", async () => {
    const text = (await run(["openssl", "x509", "-noout", "-text", "-in", ca.certPath])).stdout;
    expect(text).toContain("X509v3 Name Constraints: critical");
    for (const suffix of ["local", "localhost", "test", "internal", "home.arpa"])
      expect(text).toContain(`DNS:${suffix}\n`);
    for (const range of ["IP:127.0.0.0/255.0.0.0", "IP:10.0.0.0/255.0.0.0", "IP:172.16.0.0/255.240.0.0"]) {
      expect(text).toContain(range);
    }
    expect(text).toContain("IP:192.168.0.0/255.255.0.0");
    expect(text).toContain("IP:0:0:0:0:0:0:0:1/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF");
    expect(text).toContain("IP:FC00:0:0:0:0:0:0:0/FE00:0:0:0:0:0:0:0");
    expect(text).toContain("IP:FE80:0:0:0:0:0:0:0/FFC0:0:0:0:0:0:0:0");
  }, 30_000);

  test("issueLeaf refuses a route outside them with E_TLS naming it and the way to widen the CA", async () => {
    const error = await issueLeaf(ca, ["shop.dev"]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GotunnelError);
    expect((error as GotunnelError).code).toBe("E_TLS");
    expect((error as GotunnelError).message).toContain('"shop.dev"');
    expect((error as GotunnelError).hint).toContain("gotunnel ca rotate --allow-suffix .dev");
  }, 30_000);

  test("openssl verify: in-scope and IP-only leaves OK, example.com is a permitted subtree violation", async () => {
    const verify = ["openssl", "verify", "-CAfile", ca.certPath, "-purpose", "sslserver"];
    expect((await run([...verify, files.good])).stdout.trim()).toBe(`${files.good}: OK`);
    expect((await run([...verify, files.ip])).stdout.trim()).toBe(`${files.ip}: OK`);
    const evil = await run([...verify, files.evil]);
    expect(evil.code).not.toBe(0);
    expect(evil.stderr).toContain("permitted subtree violation");
  }, 30_000);

  function curl(name: string): Promise<Run> {
    const port = server.port;
    const resolve = `${name}:${port}:127.0.0.1`;
    return run([
      "curl",
      "--silent",
      "--show-error",
      "--cacert",
      ca.certPath,
      "--resolve",
      resolve,
      `https://${name}:${port}/`,
    ]);
  }

  test("curl: myapp.local is served, example.com is refused (exit 60) by the same trusted CA", async () => {
    expect(await curl("myapp.local")).toMatchObject({ code: 0, stdout: "hello myapp.local" });
    const evil = await curl("example.com");
    expect(evil.code).toBe(60);
    expect(evil.stderr).toContain("permitted subtree violation");
  }, 30_000);

  async function bunTls(name: string): Promise<string> {
    return new Promise((resolve) => {
      const socket = connect({ host: "127.0.0.1", port: server.port, servername: name, ca: ca.certPem }, () => {
        resolve(socket.authorized ? "ok" : `unauthorized ${socket.authorizationError}`);
        socket.end();
      });
      socket.on("error", (error) => resolve(error.message));
    });
  }

  test("Bun's own TLS client (BoringSSL) refuses example.com", async () => {
    expect(await bunTls("myapp.local")).toBe("ok");
    expect(await bunTls("example.com")).toContain("permitted subtree violation");
  }, 30_000);

  test.skipIf(nodeTool.skip)(
    nodeTool.title("node refuses example.com"),
    async () => {
      const script = (name: string) =>
        `const s=require("tls").connect({host:"127.0.0.1",port:${server.port},servername:"${name}",` +
        `ca:require("fs").readFileSync(${JSON.stringify(ca.certPath)})},()=>{console.log("ok");s.end()});` +
        `s.on("error",(e)=>console.log(e.message))`;
      expect((await run(["node", "-e", script("myapp.local")])).stdout.trim()).toBe("ok");
      expect((await run(["node", "-e", script("example.com")])).stdout).toContain("permitted subtree violation");
    },
    30_000,
  );

  test.skipIf(certutilTool.skip)(
    certutilTool.title("NSS (certutil -V in a temp db trusting the CA) refuses example.com"),
    async () => {
      const db = join(dir, "nssdb");
      mkdirSync(db);
      const d = ["-d", `sql:${db}`];
      expect((await run(["certutil", "-N", ...d, "--empty-password"])).code).toBe(0);
      expect((await run(["certutil", "-A", ...d, "-t", "C,,", "-n", ca.commonName, "-i", ca.certPath])).code).toBe(0);
      for (const [nick, file] of [
        ["good", files.good],
        ["evil", files.evil],
      ] as const) {
        expect((await run(["certutil", "-A", ...d, "-t", ",,", "-n", nick, "-i", file])).code).toBe(0);
      }
      expect((await run(["certutil", "-V", ...d, "-n", "good", "-u", "V"])).stdout).toContain("certificate is valid");
      const evil = await run(["certutil", "-V", ...d, "-n", "evil", "-u", "V"]);
      expect(evil.code).not.toBe(0);
      expect(evil.stdout + evil.stderr).toContain("not permitted to issue a certificate with this name");
    },
    30_000,
  );

  const JAVA_PROBE = `
import java.io.*; import java.net.*; import java.security.*; import java.security.cert.*; import javax.net.ssl.*;
public class Probe { public static void main(String[] a) throws Exception {
  KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType()); ks.load(null, null);
  ks.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(new FileInputStream(a[0])));
  TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm()); tmf.init(ks);
  SSLContext ctx = SSLContext.getInstance("TLS"); ctx.init(null, tmf.getTrustManagers(), null);
  SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket(new Socket("127.0.0.1", Integer.parseInt(a[2])), a[1], Integer.parseInt(a[2]), true);
  SSLParameters p = s.getSSLParameters(); p.setEndpointIdentificationAlgorithm("HTTPS"); s.setSSLParameters(p);
  try { s.startHandshake(); System.out.println("ACCEPTED"); } catch (Exception e) { System.out.println("REJECTED " + e); }
} }`;

  test.skipIf(javaTool.skip)(
    javaTool.title("Java's JSSE does NOT enforce a trust anchor's nameConstraints (known gap)"),
    async () => {
      const source = join(dir, "Probe.java");
      writeFileSync(source, JAVA_PROBE);
      const probe = (name: string) => run(["java", source, ca.certPath, name, String(server.port)]);
      expect((await probe("myapp.local")).stdout.trim()).toBe("ACCEPTED");
      // OpenJDK 17 and 25 apply nameConstraints of intermediates, not of the trust anchor itself: the out-of-scope
      // leaf is accepted. Trusting gotunnel's CA in a Java keystore therefore trusts it for every name.
      expect((await probe("example.com")).stdout.trim()).toBe("ACCEPTED");
    },
    30_000,
  );
});

describe("migration and widening", () => {
  test("a CA made before constraints (no nameConstraints) keeps working for any name", async () => {
    const caDir = join(dir, "old-style");
    mkdirSync(caDir, { mode: 0o700 });
    const keys = await generateKeyPair();
    const now = Date.now();
    const certPem = await createCaCertificatePem({
      keys,
      commonName: "gotunnel local CA legacy@host (00000000)",
      organization: "gotunnel local development CA",
      notBefore: new Date(now - CLOCK_SKEW_MS),
      notAfter: new Date(now + 365 * DAY_MS),
    });
    writeFileSync(
      join(caDir, "rootCA-key.pem"),
      derToPem(await crypto.subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY"),
    );
    writeFileSync(caCertPath(caDir), certPem);
    const legacy = (await loadCA(caDir))!;
    expect(legacy.nameConstraints).toBeUndefined();
    const leafPath = join(dir, "legacy-leaf.pem");
    writeFileSync(leafPath, (await issueLeaf(legacy, ["shop.dev"])).certPem);
    const verified = await run(["openssl", "verify", "-CAfile", legacy.certPath, "-purpose", "sslserver", leafPath]);
    expect(verified.stdout.trim()).toBe(`${leafPath}: OK`);
  }, 30_000);

  test("rotateCA --allow-suffix .dev: old dir kept aside, the new CA covers .dev plus everything before", async () => {
    const caDir = join(dir, "rotating", "ca");
    const first = (await loadOrCreateCA(caDir, { suffixes: [".corp.example"] })).ca;
    const { ca: next, previous, movedTo } = await rotateCA(caDir, { suffixes: [".dev"] });
    expect(previous?.fingerprintSha256).toBe(first.fingerprintSha256);
    expect(movedTo).toMatch(/rotating\/ca\.old-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ$/);
    expect(readdirSync(movedTo!).sort()).toEqual(["rootCA-key.pem", "rootCA.pem"]);
    expect(previous?.certPath).toBe(join(movedTo!, "rootCA.pem"));
    expect(next.nameConstraints?.dnsSuffixes).toEqual([
      "local",
      "localhost",
      "test",
      "internal",
      "home.arpa",
      "corp.example",
      "dev",
    ]);
    const leafPath = join(dir, "dev-leaf.pem");
    writeFileSync(leafPath, (await issueLeaf(next, ["shop.dev"])).certPem);
    const verify = ["openssl", "verify", "-purpose", "sslserver", leafPath];
    expect((await run(["openssl", "verify", "-CAfile", next.certPath, ...verify.slice(2)])).code).toBe(0);
    expect((await run(["openssl", "verify", "-CAfile", previous!.certPath, ...verify.slice(2)])).code).not.toBe(0);
    expect(existsSync(caCertPath(caDir))).toBe(true);
  }, 30_000);
});
