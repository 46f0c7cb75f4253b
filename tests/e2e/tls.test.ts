/**
 * What a TLS client sees from the compiled binary: `openssl s_client` with SNI and only the gotunnel CA trusted,
 * one leaf certificate per route, and `openssl verify` of the leaf actually served.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { E2EScope, type Gotunnel, requireBinary, run, runGotunnel } from "../helpers/e2e.ts";
import { startEchoUpstream } from "../helpers/upstreams.ts";

const scope = new E2EScope();
let gotunnel: Gotunnel;
let certDir = "";

beforeAll(async () => {
  requireBinary();
  const upstream = startEchoUpstream();
  scope.defer(upstream.stop);
  const dir = scope.project({
    "gotunnel.config.json": JSON.stringify({
      routes: { "myapp.local": upstream.port, "api.myapp.local": upstream.port, "*.wild.local": upstream.port },
    }),
  });
  certDir = scope.dir("certs");
  gotunnel = await scope.up(dir, scope.dir("home"));
});

afterAll(() => scope.dispose());

interface Handshake {
  exitCode: number;
  output: string;
  /** The first certificate of the chain the server sent (the leaf), as PEM. */
  leafPem: string;
}

/** `openssl s_client` to 127.0.0.1 with SNI `serverName`, verifying against the gotunnel CA only. */
async function handshake(serverName: string, extra: string[] = []): Promise<Handshake> {
  const result = await run([
    "openssl",
    "s_client",
    "-connect",
    `127.0.0.1:${gotunnel.httpsPort}`,
    "-servername",
    serverName,
    "-CAfile",
    gotunnel.caPath,
    "-verify_return_error",
    "-showcerts",
    ...extra,
  ]);
  const leafPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(result.stdout)?.[0] ?? "";
  return { exitCode: result.exitCode, output: result.stdout + result.stderr, leafPem };
}

/** Subject, SAN and fingerprint of a PEM certificate, via `openssl x509`. */
async function describeCert(pem: string): Promise<string> {
  const file = join(certDir, `${crypto.randomUUID()}.pem`);
  writeFileSync(file, pem);
  const result = await run([
    "openssl",
    "x509",
    "-in",
    file,
    "-noout",
    "-subject",
    "-ext",
    "subjectAltName",
    "-fingerprint",
    "-sha256",
  ]);
  expect(result.exitCode).toBe(0);
  return result.stdout;
}

/** The subjectAltName entries printed by `openssl x509 -ext subjectAltName`. */
function sans(text: string): string[] {
  const line = /Subject Alternative Name:\s*\n\s*(.+)/.exec(text)?.[1] ?? "";
  return line
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
}

describe("TLS through the compiled binary", () => {
  test("s_client with SNI myapp.local verifies against the gotunnel CA, for the name myapp.local", async () => {
    const result = await handshake("myapp.local", ["-verify_hostname", "myapp.local"]);
    expect(result.exitCode).toBe(0);
    expect(result.output).toContain("Verify return code: 0 (ok)");
    const cert = await describeCert(result.leafPem);
    expect(cert).toMatch(/^subject=CN\s*=\s*myapp\.local$/m);
    expect(sans(cert)).toEqual(["DNS:myapp.local"]);
  });

  test("a second route gets its own certificate", async () => {
    const first = await describeCert((await handshake("myapp.local")).leafPem);
    const second = await handshake("api.myapp.local", ["-verify_hostname", "api.myapp.local"]);
    expect(second.exitCode).toBe(0);
    expect(second.output).toContain("Verify return code: 0 (ok)");
    const cert = await describeCert(second.leafPem);
    expect(cert).toMatch(/^subject=CN\s*=\s*api\.myapp\.local$/m);
    expect(sans(cert)).toEqual(["DNS:api.myapp.local"]);
    const fingerprint = (text: string) => /Fingerprint=(.+)/.exec(text)?.[1];
    expect(fingerprint(cert)).toBeDefined();
    expect(fingerprint(cert)).not.toBe(fingerprint(first));
  });

  test("a wildcard route's certificate covers a subdomain", async () => {
    const result = await handshake("x.wild.local", ["-verify_hostname", "x.wild.local"]);
    expect(result.exitCode).toBe(0);
    expect(result.output).toContain("Verify return code: 0 (ok)");
  });

  test("the hostname check fails for a name the served certificate does not cover", async () => {
    const result = await handshake("myapp.local", ["-verify_hostname", "other.local"]);
    expect(result.exitCode).not.toBe(0);
    expect(result.output).not.toContain("Verify return code: 0 (ok)");
  });

  test("`openssl verify` accepts the served leaf for sslserver use with the hostname", async () => {
    const leaf = join(certDir, "served-leaf.pem");
    writeFileSync(leaf, (await handshake("myapp.local")).leafPem);
    const result = await run([
      "openssl",
      "verify",
      "-CAfile",
      gotunnel.caPath,
      "-purpose",
      "sslserver",
      "-verify_hostname",
      "myapp.local",
      leaf,
    ]);
    expect(result.stdout.trim()).toBe(`${leaf}: OK`);
    expect(result.exitCode).toBe(0);
  });

  test("the served leaf does not verify against a different gotunnel CA", async () => {
    const otherHome = scope.dir("other-home");
    const other = await runGotunnel(["ca"], { cwd: otherHome, home: otherHome });
    expect(other.exitCode).toBe(0);
    const leaf = join(certDir, "foreign-check.pem");
    writeFileSync(leaf, (await handshake("myapp.local")).leafPem);
    const result = await run(["openssl", "verify", "-CAfile", other.stdout.trim(), leaf]);
    expect(result.exitCode).not.toBe(0);
  });
});
