/**
 * `gotunnel run -- <command>` (CI mode) through the compiled binary: the command reaches https://<name> with nothing
 * but the variables run gives it, its exit code comes back, and everything is torn down — after success, failure,
 * an upstream that never answers, and an interrupt. No hosts file, trust store or daemon is touched.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, binaryEnv, canBind, freePort, hostsFileOf, lockFileOf, requireBinary } from "../helpers/e2e.ts";

const home = mkdtempSync(join(tmpdir(), "gotunnel-run-e2e-"));
/** run's TMPDIR: what it leaves behind is counted here, where no other process on the machine writes. */
const temps = mkdtempSync(join(tmpdir(), "gotunnel-run-e2e-tmp-"));
const project = join(home, "project");
let upstream: ReturnType<typeof Bun.serve>;
let httpsPort: number;

beforeAll(async () => {
  requireBinary();
  upstream = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("smoke ok") });
  httpsPort = await freePort();
  Bun.spawnSync(["mkdir", "-p", project]);
  writeFileSync(join(project, "gotunnel.config.json"), JSON.stringify({ routes: { "myapp.local": upstream.port } }));
  writeFileSync(hostsFileOf(home), "127.0.0.1 localhost\n");
});
afterAll(() => {
  upstream.stop(true);
  rmSync(home, { recursive: true, force: true });
  rmSync(temps, { recursive: true, force: true });
  rmSync(hostsFileOf(home), { force: true });
});

function runTemps(): string[] {
  return readdirSync(temps);
}

async function gotunnelRun(args: string[], extraEnv: Record<string, string> = {}) {
  const proc = Bun.spawn([BINARY, "run", ...args], {
    cwd: project,
    env: binaryEnv(home, { GOTUNNEL_PROXY_HTTPS_PORT: String(httpsPort), TMPDIR: temps, ...extraEnv }),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, exitCode };
}

describe("gotunnel run", () => {
  test("the command reaches https://myapp.local with run's variables, and its exit code is returned", async () => {
    const before = runTemps();
    // While the command runs, the ephemeral CA is under run's TMPDIR (so its removal below is seen).
    const script = `curl -sSf $GOTUNNEL_CURL_RESOLVE "$GOTUNNEL_URL_MYAPP_LOCAL/"; echo; ls -d "$CURL_CA_BUNDLE" | grep -q "^${temps}/" || echo "CA outside TMPDIR"; exit 7`;
    const result = await gotunnelRun(["--", "sh", "-c", script]);
    expect(result.stdout).toBe("smoke ok\n"); // verified TLS: curl trusts the ephemeral CA only via CURL_CA_BUNDLE
    expect(result.exitCode).toBe(7);
    expect(result.stderr).toContain(`https://myapp.local:${httpsPort}`);
    // Torn down: the port is free again, the ephemeral CA dir is gone, no daemon was started, hosts untouched.
    expect(canBind(httpsPort)).toBe(true);
    expect(runTemps()).toEqual(before);
    expect(existsSync(lockFileOf(home))).toBe(false);
    expect(await Bun.file(hostsFileOf(home)).text()).toBe("127.0.0.1 localhost\n");
  }, 60_000);

  test("Node gets NODE_EXTRA_CA_CERTS and the URL; success is exit 0", async () => {
    const check = 'test -f "$NODE_EXTRA_CA_CERTS" && test -f "$SSL_CERT_FILE" && test -n "$GOTUNNEL_URL_MYAPP_LOCAL"';
    const result = await gotunnelRun(["--", "sh", "-c", check]);
    expect(result.exitCode).toBe(0);
  }, 60_000);

  test("an upstream that never answers: exit 6 naming the route, nothing left behind", async () => {
    const dead = await freePort();
    const config = join(home, "dead.json");
    writeFileSync(config, JSON.stringify({ routes: { "down.local": dead } }));
    const before = runTemps();
    const result = await gotunnelRun(["--config", config, "--wait-timeout", "1s", "--", "true"]);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`down.local: http://localhost:${dead} did not answer within 1 s`);
    expect(canBind(httpsPort)).toBe(true);
    expect(runTemps()).toEqual(before);
  }, 60_000);

  test("interrupted: SIGTERM reaches the command, run exits with its code and tears down", async () => {
    const before = runTemps();
    const proc = Bun.spawn([BINARY, "run", "--", "sleep", "30"], {
      cwd: project,
      env: binaryEnv(home, { GOTUNNEL_PROXY_HTTPS_PORT: String(httpsPort) }),
      stdout: "ignore",
      stderr: "pipe",
    });
    const stderr = proc.stderr.getReader();
    let seen = "";
    while (!seen.includes("running: sleep 30")) {
      const { value, done } = await stderr.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(128 + 15);
    expect(canBind(httpsPort)).toBe(true);
    expect(runTemps()).toEqual(before);
  }, 60_000);

  test("no command after -- is a usage error", async () => {
    const result = await gotunnelRun([]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("no command to run");
  });
});
