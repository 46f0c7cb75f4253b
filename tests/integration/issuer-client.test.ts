/**
 * The daemon's side of the certificate issuer (src/tls/issuer/client.ts) against real child processes: the real
 * issuer run from source (`bun src/main.ts __issue-certificates`), and small shell programs that misbehave the ways a
 * broken child could (garbage on stdout, an exit mid-request, an answer to no request). Each failure must be an E_TLS
 * GotunnelError saying what the child did, and the next request must get a fresh child.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { GotunnelError } from "../../src/core/errors.ts";
import { CertificateIssuer } from "../../src/tls/issuer/client.ts";

const MAIN = resolve(import.meta.dir, "..", "..", "src", "main.ts");
const dir = mkdtempSync(join(tmpdir(), "gotunnel-issuer-"));
const caDir = join(dir, "ca");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A child that reads one request line, then runs `then` (bash); the issuer's hidden command arrives as $1. */
function fake(then: string): CertificateIssuer {
  return new CertificateIssuer({ command: ["bash", "-c", `read -r line; ${then}`, "fake-issuer"], idleMs: 60_000 });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function failureOf(promise: Promise<unknown>): Promise<GotunnelError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof GotunnelError)) throw new Error(`expected a GotunnelError, got ${String(error)}`);
  return error;
}

describe("the real issuer, from source", () => {
  const issuer = new CertificateIssuer({ command: [process.execPath, MAIN], idleMs: 500 });
  afterAll(() => issuer.close());

  test("creates the CA, issues a leaf that OpenSSL verifies against it, and exits once idle", async () => {
    const { ca, created } = await issuer.loadCA(caDir, { create: true });
    expect(created).toBe(true);
    expect(ca.fingerprintSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(ca.nameConstraints?.dnsSuffixes).toContain("local");
    const leaf = await issuer.issue(ca, caDir, ["app.local", "*.app.local"], new Date());
    expect(leaf.names).toEqual(["app.local", "*.app.local"]);
    await Bun.write(join(dir, "leaf.pem"), leaf.certPem);
    const verify = Bun.spawnSync(["openssl", "verify", "-CAfile", ca.certPath, join(dir, "leaf.pem")]);
    expect(verify.stdout.toString()).toContain("OK");
    const pid = issuer.pid as number;
    expect(pid).toBeNumber();
    // Idle for 500 ms: its stdin is closed and it exits.
    for (let waited = 0; isAlive(pid) && waited < 10_000; waited += 50) await Bun.sleep(50);
    expect(issuer.pid).toBeUndefined();
    expect(isAlive(pid)).toBe(false);
  });

  test("a name the CA refuses comes back as the child's own error and code", async () => {
    const { ca } = await issuer.loadCA(caDir, { create: false });
    const error = await failureOf(issuer.issue(ca, caDir, ["bad_name.local"], new Date()));
    expect(error.code).toBe("E_DOMAIN_INVALID");
    expect(error.message).toContain('Cannot issue a certificate for "bad_name.local"');
  });

  test("a CA replaced on disk behind the daemon does not sign its leaves", async () => {
    const { ca } = await issuer.loadCA(caDir, { create: false });
    const other = { ...ca, fingerprintSha256: "0".repeat(64) };
    const error = await failureOf(issuer.issue(other, caDir, ["app.local"], new Date()));
    expect(error.code).toBe("E_TLS");
    expect(error.message).toContain("is not the one the running daemon serves");
  });
});

describe("a child that misbehaves", () => {
  test("garbage on stdout: E_TLS naming it, and the child is killed", async () => {
    const issuer = fake("echo 'not json'; sleep 60");
    const error = await failureOf(issuer.loadCA(caDir, { create: false }));
    expect(error.code).toBe("E_TLS");
    expect(error.message).toContain(`failed while loading the CA in ${caDir}: it wrote a line that is not an answer`);
    expect(error.hint).toContain("Nothing was changed");
    issuer.close();
  });

  test("an exit mid-request: E_TLS with the exit code, and the next request starts a new child", async () => {
    const issuer = fake("exit 3");
    const error = await failureOf(issuer.loadCA(caDir, { create: false }));
    expect(error.message).toMatch(/failed while loading the CA in .*: it exited with code 3 \(pid \d+\)/);
    const again = await failureOf(issuer.loadCA(caDir, { create: false }));
    expect(again.message).toContain("it exited with code 3");
    issuer.close();
  });

  test("an answer to a request nobody made: E_TLS", async () => {
    const issuer = fake(`echo '{"id":99,"ok":false,"error":{"code":"E_TLS","message":"x"}}'; sleep 60`);
    const error = await failureOf(issuer.loadCA(caDir, { create: false }));
    expect(error.message).toContain("it answered request 99, which is not waiting");
    issuer.close();
  });

  test("an executable that is gone (moved by an upgrade): E_TLS saying to restart the daemon", async () => {
    const issuer = new CertificateIssuer({ command: [join(dir, "moved-gotunnel")] });
    const error = await failureOf(issuer.loadCA(caDir, { create: false }));
    expect(error.code).toBe("E_TLS");
    expect(error.message).toContain("gotunnel's certificate issuer could not be started");
    expect(error.hint).toContain("Restart the daemon");
  });

  test("no answer in time: E_TLS naming the bound", async () => {
    const issuer = new CertificateIssuer({
      command: ["bash", "-c", "sleep 60", "silent-issuer"],
      idleMs: 60_000,
      answerTimeoutMs: 300,
    });
    const error = await failureOf(issuer.loadCA(caDir, { create: false }));
    expect(error.message).toContain("it did not answer within 0.3 s and was stopped");
    issuer.close();
  });
});
