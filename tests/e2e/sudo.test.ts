/**
 * `sudo gotunnel …` (needed to bind 443) must leave the CA, state, lock and control socket owned by the user who ran
 * sudo, so that user's next `gotunnel list` without sudo works. Simulated the way sudo sets it up: we are root, with
 * SUDO_USER/SUDO_UID/SUDO_GID naming `nobody`, whose "home" is a temp dir it owns.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, binaryEnv, freePort, run, runGotunnel, stopDaemonOf } from "../helpers/e2e.ts";
import { cleanupNobodyFiles, copyForNobody } from "../helpers/nobody.ts";
import { requireAll, requireRoot, requireTools } from "../helpers/tools.ts";

const NOBODY = 65534;
const asNobody = requireAll(requireRoot("act as sudo for the nobody user"), requireTools("runuser"));
const home = mkdtempSync(join(tmpdir(), "gotunnel-sudo-"));
chownSync(home, NOBODY, NOBODY);
const sudoEnv = { SUDO_USER: "nobody", SUDO_UID: String(NOBODY), SUDO_GID: String(NOBODY) };

afterAll(async () => {
  await stopDaemonOf(home);
  cleanupNobodyFiles();
  rmSync(home, { recursive: true, force: true });
  rmSync(`${home}.hosts`, { force: true });
});

function ownersBelow(dir: string): Set<number> {
  const owners = new Set<number>([statSync(dir).uid]);
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    owners.add(statSync(join(entry.parentPath, entry.name)).uid);
  }
  return owners;
}

describe.skipIf(asNobody.skip)(asNobody.title("under sudo, gotunnel's files belong to the invoking user"), () => {
  test("the CA, state, lock and socket are nobody's, and nobody can then use the daemon without sudo", async () => {
    const ports = {
      GOTUNNEL_PROXY_HTTPS_PORT: String(await freePort()),
      GOTUNNEL_PROXY_HTTP_PORT: String(await freePort()),
    };
    const ca = await runGotunnel(["ca"], { cwd: home, home, env: { ...sudoEnv, ...ports } });
    expect(ca.exitCode).toBe(0);
    const started = await runGotunnel(["start", "-d", "sudo-demo", "-p", "3999"], {
      cwd: home,
      home,
      env: { ...sudoEnv, ...ports },
    });
    expect(started.stderr).toBe("");
    expect(started.exitCode).toBe(0);
    expect(ownersBelow(home)).toEqual(new Set([NOBODY]));

    // The same user, without sudo: reads the routes through the socket the root daemon created.
    const env = binaryEnv(home, ports);
    const listed = await run(["runuser", "-u", "nobody", "--", copyForNobody(BINARY), "list", "--json"], {
      cwd: home,
      env,
    });
    expect(listed.exitCode).toBe(0);
    expect(listed.stdout).toContain("sudo-demo.local");
  }, 60_000);
});
