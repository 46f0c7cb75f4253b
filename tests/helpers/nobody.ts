/**
 * Tests that run code as `nobody` must not depend on where the repository lives: a clone inside a 0700 directory
 * (`mktemp -d`, as CI may use) is unreadable to other users, and so are the repo's Bun and dist/gotunnel. These
 * helpers hand `nobody` self-contained executables in a world-readable temp dir instead.
 */
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";

/** nobody's uid and gid on Debian. */
export const NOBODY = 65534;

const made: string[] = [];

/** argv that runs `command` as nobody (setpriv, no supplementary groups). */
export function asNobodyArgv(command: string[]): string[] {
  return ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", ...command];
}

/**
 * argv that runs gotunnel's `command` as nobody with nothing of root's environment: PATH, HOME, a GOTUNNEL_HOME
 * under it, an ephemeral admin port, no colour, and `env`.
 */
export function asNobodyGotunnelArgv(home: string, env: Record<string, string>, command: string[]): string[] {
  const vars = { GOTUNNEL_HOME: join(home, "gt"), GOTUNNEL_ADMIN_PORT: "0", NO_COLOR: "1", ...env };
  const assignments = Object.entries(vars).map(([key, value]) => `${key}=${value}`);
  return asNobodyArgv(["env", "-i", "PATH=/usr/bin:/bin", `HOME=${home}`, ...assignments, ...command]);
}

/** A temp dir every user can enter and read; removed by cleanupNobodyFiles(). */
export function nobodyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-nobody-"));
  chmodSync(dir, 0o755);
  made.push(dir);
  return dir;
}

/** Compiles a TS entry (and everything it imports) into one executable `nobody` can run. */
export function compileForNobody(entry: string, dir = nobodyDir()): string {
  const out = join(dir, basename(entry).replace(/\.[cm]?ts$/, ""));
  const build = Bun.spawnSync([process.execPath, "build", "--compile", entry, "--outfile", out], {
    stdout: "pipe",
    stderr: "pipe",
    // bun build inlines NODE_ENV, and bun test set it to "test": build with an explicit one (DESIGN.md).
    env: { ...process.env, NODE_ENV: "production" },
  });
  if (build.exitCode !== 0) throw new Error(`could not compile ${entry} for nobody: ${build.stderr.toString()}`);
  chmodSync(out, 0o755);
  return out;
}

/** A world-readable copy of an executable (e.g. dist/gotunnel). */
export function copyForNobody(file: string, dir = nobodyDir()): string {
  const copy = join(dir, basename(file));
  copyFileSync(file, copy);
  chmodSync(copy, 0o755);
  return copy;
}

export function cleanupNobodyFiles(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}
