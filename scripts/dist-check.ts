/**
 * What scripts/test.ts checks about dist/gotunnel after the e2e tier: that no test replaced it, and that it is not
 * a test build. `bun build` inlines NODE_ENV, so a binary built under `bun test` had "test" baked in, and consola
 * then hid every info line it printed (DESIGN.md).
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Inode and mtime: a rebuild in place changes them. "absent" when there is no file. */
export function binaryIdentity(path: string): string {
  const stat = statSync(path, { throwIfNoEntry: false });
  return stat ? `${stat.ino}:${stat.mtimeMs}` : "absent";
}

/** True when `<binary> daemon stop` (with a fresh temp home, so no daemon) prints its info line. */
export function printsInfoLines(binary: string): boolean {
  const home = mkdtempSync(join(tmpdir(), "gotunnel-dist-check-"));
  try {
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", GOTUNNEL_HOME: home, NO_COLOR: "1" };
    const result = Bun.spawnSync([binary, "daemon", "stop"], { env, stdout: "pipe", stderr: "pipe" });
    return `${result.stdout}${result.stderr}`.includes("no gotunnel daemon is running");
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
