/**
 * daemon/start-report.ts: both channels a starting daemon reports its error on. The pipe (POSIX) is exercised with a
 * real child process; the file (Windows) runs here as it would there. The e2e tiers show the whole path, e.g. a daemon
 * on a full disk (tests/e2e/disk-full.test.ts).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GotunnelError } from "../../src/core/errors.ts";
import { parseStartReport, startReportChannel, takeStartReport } from "../../src/daemon/start-report.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-start-report-"));
  dirs.push(dir);
  return dir;
}

const failure = new GotunnelError("E_PORT_IN_USE", "port 443 is in use", { hint: "stop it", details: { pid: 7 } });

describe.skipIf(process.platform === "win32")("the pipe (POSIX)", () => {
  test("a child reports its error on fd 3 and exits; one that serves just closes it", async () => {
    const dir = tempDir();
    const script = join(dir, "daemon.ts");
    writeFileSync(
      script,
      `import { GotunnelError } from ${JSON.stringify(join(import.meta.dir, "../../src/core/errors.ts"))};
import { takeStartReport } from ${JSON.stringify(join(import.meta.dir, "../../src/daemon/start-report.ts"))};
const report = takeStartReport();
if (process.env.GOTUNNEL_START_REPORT !== undefined) throw new Error("the variable reaches the daemon's children");
if (process.argv[2] === "fail") report.failed(new GotunnelError("E_PORT_IN_USE", "port 443 is in use", { hint: "stop it", details: { pid: 7 } }));
else report.close();
`,
    );
    for (const outcome of ["fail", "serve"]) {
      const channel = startReportChannel(dir);
      const child = Bun.spawn([process.execPath, script, outcome], {
        env: { ...process.env, ...channel.env },
        stdio: ["ignore", "inherit", "inherit", ...channel.stdio],
      });
      const report = channel.reader(child.stdio);
      expect(await child.exited).toBe(0);
      const error = parseStartReport(await report());
      if (outcome === "fail") expect(error).toEqual(failure);
      else expect(error).toBeUndefined();
    }
  });
  test("`settled` resolves once a serving daemon closes the pipe, while it runs on (the command stops polling then)", async () => {
    const dir = tempDir();
    const script = join(dir, "serving.ts");
    writeFileSync(
      script,
      `import { takeStartReport } from ${JSON.stringify(join(import.meta.dir, "../../src/daemon/start-report.ts"))};
takeStartReport().close();
await Bun.sleep(30_000);
`,
    );
    const channel = startReportChannel(dir);
    const child = Bun.spawn([process.execPath, script], {
      env: { ...process.env, ...channel.env },
      stdio: ["ignore", "inherit", "inherit", ...channel.stdio],
    });
    try {
      const report = channel.reader(child.stdio);
      expect(report.settled).toBeDefined();
      await report.settled;
      expect(child.exitCode).toBeNull();
      expect(await report()).toBe("");
    } finally {
      child.kill();
    }
  });
});

describe("the file (Windows)", () => {
  test("the daemon writes the record atomically in the state dir; the command reads it and removes it", async () => {
    const stateDir = tempDir();
    const channel = startReportChannel(stateDir, "win32");
    expect(channel.stdio).toEqual([]);
    const env: Record<string, string | undefined> = { ...channel.env };
    takeStartReport(env).failed(failure);
    expect(env).toEqual({});
    expect(readdirSync(stateDir)).toEqual([expect.stringMatching(/^daemon-start-error\.[0-9a-f]{16}\.json$/)]);
    expect(parseStartReport(await channel.reader([])())).toEqual(failure);
    expect(readdirSync(stateDir)).toEqual([]);
  });

  test("no report, no file: the command falls back to pointing at the log", async () => {
    const channel = startReportChannel(tempDir(), "win32");
    const reader = channel.reader([]);
    expect(reader.settled).toBeUndefined(); // no signal on Windows: the command polls the socket
    expect(parseStartReport(await reader())).toBeUndefined();
  });
});
