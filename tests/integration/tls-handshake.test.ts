/**
 * The local CA and its leaves against real clients: openssl verify, curl and openssl s_client talking TLS to a real
 * Bun.serve with one SNI entry per route. Loopback only, ephemeral port, temp dir removed afterwards.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { type LocalCA, loadOrCreateCA } from "../../src/tls/ca.ts";
import { issueLeaf, issuerFor } from "../../src/tls/leaf.ts";
import { CertificateStore, type TlsEntry } from "../../src/tls/store.ts";

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Async spawn: the server answers on this same event loop, so a blocking spawnSync would deadlock. */
async function run(argv: string[]): Promise<Run> {
  const child = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { exitCode, stdout, stderr };
}

function certBody(pem: string): string {
  const match = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!match?.[1]) throw new Error(`no certificate in:\n${pem}`);
  return match[1].replace(/\s+/g, "");
}

let dir: string;
let ca: LocalCA;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gotunnel-tls-it-"));
  ca = (await loadOrCreateCA(join(dir, "ca"))).ca;
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("openssl verify", () => {
  const cases = [
    {
      label: "normal",
      names: ["a.local"],
      good: ["-verify_hostname", "a.local"],
      bad: ["-verify_hostname", "b.local"],
    },
    {
      label: "wildcard",
      names: ["w.local", "*.w.local"],
      good: ["-verify_hostname", "x.w.local"],
      bad: ["-verify_hostname", "y.x.w.local"], // a wildcard covers exactly one label (RFC 6125 §6.4.3)
    },
    { label: "IP", names: ["127.0.0.1", "::1"], good: ["-verify_ip", "::1"], bad: ["-verify_ip", "127.0.0.2"] },
  ];
  for (const { label, names, good, bad } of cases) {
    test(`${label} leaf chains to rootCA.pem for purpose sslserver`, async () => {
      const leafPath = join(dir, `${label}.pem`);
      writeFileSync(leafPath, (await issueLeaf(ca, names)).certPem);
      const verify = ["openssl", "verify", "-CAfile", ca.certPath, "-purpose", "sslserver"];
      const ok = await run([...verify, ...good, leafPath]);
      expect(ok.stdout.trim()).toBe(`${leafPath}: OK`);
      expect(ok.exitCode).toBe(0);
      expect((await run([...verify, ...bad, leafPath])).exitCode).not.toBe(0);
    });
  }

  test("a leaf does not verify against a different gotunnel CA", async () => {
    const other = (await loadOrCreateCA(join(dir, "other-ca"))).ca;
    const leafPath = join(dir, "foreign.pem");
    writeFileSync(leafPath, (await issueLeaf(other, ["a.local"])).certPem);
    const result = await run(["openssl", "verify", "-CAfile", ca.certPath, "-purpose", "sslserver", leafPath]);
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout + result.stderr).toContain("unable to get local issuer certificate");
  });
});

describe("Bun.serve with SNI entries from the store", () => {
  let server: Server<undefined>;
  let port: number;
  let entries: TlsEntry[];

  beforeAll(async () => {
    const store = new CertificateStore(ca, { issue: issuerFor(ca) });
    entries = await store.tlsEntries([
      { name: "a.local", wildcard: false },
      { name: "b.local", wildcard: false },
      { name: "w.local", wildcard: true },
    ]);
    expect(store.lastStats).toMatchObject({ issued: 4, reused: 0 });
    server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      tls: entries,
      fetch: (request) => new Response(`hello ${request.headers.get("host")}`),
    });
    port = server.port!;
  });

  afterAll(async () => {
    await server?.stop(true);
  });

  function certFor(serverName: string): string {
    const entry = entries.find((candidate) => candidate.serverName === serverName);
    if (!entry) throw new Error(`no entry ${serverName}`);
    return certBody(entry.cert);
  }

  function curl(name: string, ...extra: string[]): Promise<Run> {
    const url = `https://${name}:${port}/`;
    return run([
      "curl",
      "--silent",
      "--show-error",
      "--max-time",
      "10",
      "--resolve",
      `${name}:${port}:127.0.0.1`,
      ...extra,
      url,
    ]);
  }

  /** The certificate the server presents for an SNI name (or none), verified against our CA by s_client. */
  async function served(serverName: string | undefined, verifyHost: string[]): Promise<string> {
    const sni = serverName === undefined ? ["-noservername"] : ["-servername", serverName];
    const args = ["-connect", `127.0.0.1:${port}`, ...sni, "-CAfile", ca.certPath, "-verify_return_error"];
    const result = await run(["openssl", "s_client", ...args, ...verifyHost]);
    expect(result.stdout).toContain("Verify return code: 0 (ok)");
    expect(result.exitCode).toBe(0);
    return certBody(result.stdout);
  }

  test("curl --cacert rootCA.pem reaches a.local", async () => {
    const result = await curl("a.local", "--cacert", ca.certPath);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe(`hello a.local:${port}`);
    expect(result.exitCode).toBe(0);
  });

  test("each SNI name gets its own certificate", async () => {
    expect(await served("b.local", ["-verify_hostname", "b.local"])).toBe(certFor("b.local"));
    expect(await served("a.local", ["-verify_hostname", "a.local"])).toBe(certFor("a.local"));
    expect(certFor("a.local")).not.toBe(certFor("b.local"));
  });

  test("x.w.local and w.local get the wildcard route's certificate", async () => {
    expect(await served("x.w.local", ["-verify_hostname", "x.w.local"])).toBe(certFor("*.w.local"));
    expect(await served("w.local", ["-verify_hostname", "w.local"])).toBe(certFor("*.w.local"));
    const result = await curl("x.w.local", "--cacert", ca.certPath);
    expect([result.exitCode, result.stdout]).toEqual([0, `hello x.w.local:${port}`]);
  });

  test("an unknown name, or no SNI at all, gets the default localhost/127.0.0.1/::1 entry", async () => {
    expect(entries[0]?.serverName).toBe("localhost");
    expect(await served("unknown.local", [])).toBe(certFor("localhost"));
    expect(await served(undefined, ["-verify_ip", "127.0.0.1"])).toBe(certFor("localhost"));
    const byIp = await run(["curl", "--silent", "--cacert", ca.certPath, `https://127.0.0.1:${port}/`]);
    expect([byIp.exitCode, byIp.stdout]).toEqual([0, `hello 127.0.0.1:${port}`]);
    // The default certificate does not name unknown.local, so a verifying client refuses it.
    expect((await curl("unknown.local", "--cacert", ca.certPath)).exitCode).toBe(60);
  });

  test("curl without our CA fails verification (exit 60)", async () => {
    const result = await curl("a.local");
    expect(result.exitCode).toBe(60);
    expect(result.stdout).toBe("");
  });
});
