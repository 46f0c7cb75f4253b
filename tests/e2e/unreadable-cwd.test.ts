/**
 * gotunnel run by a user from a directory that user may not search (someone else's home, `sudo -u`): config
 * discovery cannot look there, and a command that needs no project file still works. It crashed with EACCES from a
 * stat in config discovery before ("gotunnel crashed — this is a bug").
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, requireBinary, run } from "../helpers/e2e.ts";
import { asNobodyGotunnelArgv, cleanupNobodyFiles, copyForNobody, NOBODY, nobodyDir } from "../helpers/nobody.ts";
import { requireAll, requireRoot, requireTools } from "../helpers/tools.ts";

const ready = requireAll(requireRoot("runs gotunnel as nobody"), requireTools("setpriv"));

describe.skipIf(ready.skip)(ready.title("a working directory gotunnel may not read"), () => {
  let binary: string;
  let home: string;
  let closed: string;

  const asNobody = (args: string[]) =>
    run(
      asNobodyGotunnelArgv(
        home,
        {
          GOTUNNEL_HOSTS_FILE: join(home, "hosts"),
          GOTUNNEL_PROXY_HTTPS_PORT: "0",
          GOTUNNEL_PROXY_HTTP_PORT: "0",
          GOTUNNEL_LAN: "0",
        },
        [binary, ...args],
      ),
      { cwd: closed },
    );

  beforeAll(() => {
    requireBinary();
    const dir = nobodyDir();
    binary = copyForNobody(BINARY, dir);
    home = join(dir, "home");
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, NOBODY, NOBODY);
    // Root's own directory, closed to others, with a directory inside that nobody's process starts in.
    const root = mkdtempSync(join(tmpdir(), "gotunnel-closed-"));
    closed = join(root, "project");
    mkdirSync(closed);
  });

  afterAll(async () => {
    await asNobody(["daemon", "stop"]);
    rmSync(join(closed, ".."), { recursive: true, force: true });
    cleanupNobodyFiles();
  });

  test("start and list work there, as they do anywhere: no crash, no project file looked at", async () => {
    const started = await asNobody(["start", "-d", "x.localhost", "-p", "9", "--json"]);
    expect(started.stderr).not.toContain("crashed");
    expect(started.exitCode).toBe(0);
    const listed = await asNobody(["list", "--json"]);
    expect(listed.exitCode).toBe(0);
    expect(listed.stdout).toContain('"name":"x.localhost"');
  }, 60_000);
});
