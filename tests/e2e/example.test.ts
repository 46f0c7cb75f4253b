/**
 * The README promises that `npm run example` brings up https://hello.localhost:8443 on a fresh machine. This runs
 * the same script (`scripts/example.ts --check`: build, example server, `gotunnel up`, curl with gotunnel's CA) with
 * a temp home and hosts file, and checks it cleaned up after itself. Its build goes to a temp dir: a test never
 * replaces dist/gotunnel, which the other e2e tests run and a developer uses after `npm test`.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");
const home = mkdtempSync(join(tmpdir(), "gotunnel-example-"));
const buildDir = mkdtempSync(join(tmpdir(), "gotunnel-example-build-"));
afterAll(() => {
  rmSync(home, { recursive: true, force: true });
  rmSync(buildDir, { recursive: true, force: true });
});

/** dist/gotunnel's identity (inode and modification time), or "absent". */
function distIdentity(): string {
  const stat = statSync(join(root, "dist", "gotunnel"), { throwIfNoEntry: false });
  return stat ? `${stat.ino} ${stat.mtimeMs}` : "absent";
}

test("the README's example command serves hello.localhost over trusted HTTPS and stops its daemon", async () => {
  const distBefore = distIdentity();
  const binary = join(buildDir, "gotunnel");
  const proc = Bun.spawn([process.execPath, join(root, "scripts", "example.ts"), "--check", "--outfile", binary], {
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
  expect(existsSync(binary)).toBe(true);
  expect(distIdentity()).toBe(distBefore);
}, 120_000);
