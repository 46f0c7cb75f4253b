/**
 * `bun test` sets NODE_ENV=test, and `bun build` inlines process.env.NODE_ENV from its environment: a binary built
 * from inside a test had "test" baked in, and consola then hid all its info lines (DESIGN.md). scripts/build.ts
 * defines NODE_ENV itself, so a build run the way tests run it behaves like a release build.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { printsInfoLines } from "../../scripts/dist-check.ts";
import { REPO_ROOT, run } from "../helpers/e2e.ts";

const dir = mkdtempSync(join(tmpdir(), "gotunnel-build-env-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("scripts/build.ts run with bun test's NODE_ENV=test makes a binary that prints info lines", async () => {
  // The condition under test: this process (and so the build it spawns) has NODE_ENV=test.
  expect(process.env.NODE_ENV).toBe("test");
  // Into a directory that does not exist yet, as dist/ on a fresh clone (the build once failed there).
  const binary = join(dir, "not-yet", "gotunnel");
  const build = await run([process.execPath, join(REPO_ROOT, "scripts", "build.ts"), "--outfile", binary], {
    cwd: REPO_ROOT,
    env: { ...process.env } as Record<string, string>,
    timeoutMs: 120_000,
  });
  expect(build.exitCode, build.stderr).toBe(0);
  // Run with NODE_ENV=test as well: what counts is what the build baked in.
  const home = join(dir, "home");
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", GOTUNNEL_HOME: home, NO_COLOR: "1", NODE_ENV: "test" };
  const stopped = await run([binary, "daemon", "stop"], { cwd: dir, env });
  expect(stopped.exitCode).toBe(0);
  expect(`${stopped.stdout}${stopped.stderr}`).toContain("no gotunnel daemon is running");
  expect(printsInfoLines(binary)).toBe(true);
}, 150_000);

test("the check scripts/test.ts runs on dist/gotunnel catches a binary built the old way, under NODE_ENV=test", async () => {
  const binary = join(dir, "gotunnel-test-env");
  const entry = join(REPO_ROOT, "src", "main.ts");
  const build = await run([process.execPath, "build", "--compile", entry, "--outfile", binary], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NODE_ENV: "test" },
    timeoutMs: 120_000,
  });
  expect(build.exitCode, build.stderr).toBe(0);
  // It works (exit 0), it just says nothing: the symptom users saw after `npm test`.
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", GOTUNNEL_HOME: join(dir, "home-old"), NO_COLOR: "1" };
  const stopped = await run([binary, "daemon", "stop"], { cwd: dir, env });
  expect({ exitCode: stopped.exitCode, output: stopped.stdout + stopped.stderr }).toEqual({ exitCode: 0, output: "" });
  expect(printsInfoLines(binary)).toBe(false);
}, 150_000);
