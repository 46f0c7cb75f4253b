/**
 * The README promises that `npm run example` brings up https://hello.localhost:8443 on a fresh machine. This runs
 * the same script (`scripts/example.ts --check`: build, example server, `gotunnel up`, curl with gotunnel's CA) with
 * a temp home and hosts file, and checks it cleaned up after itself.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");
const home = mkdtempSync(join(tmpdir(), "gotunnel-example-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

test("the README's example command serves hello.localhost over trusted HTTPS and stops its daemon", async () => {
  const proc = Bun.spawn([process.execPath, join(root, "scripts", "example.ts"), "--check"], {
    cwd: root,
    // GOTUNNEL_LAN=0: hello.localhost stays on loopback anyway, unless the caller's environment says otherwise.
    env: { ...process.env, GOTUNNEL_HOME: home, GOTUNNEL_HOSTS_FILE: join(home, "hosts"), GOTUNNEL_LAN: "0" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  expect(`${stdout}\n${stderr}`).toContain('self-check: https://hello.localhost:8443/api → {"ok":true');
  expect(code).toBe(0);
  // The example started the daemon, so it stopped it: no lock file is left behind.
  expect(existsSync(join(home, "state", "daemon.lock"))).toBe(false);
}, 120_000);
