/**
 * The daemon lock on real files, with real other processes holding it: a flock decides, never the pid in the file.
 * (The zombie under a non-reaping PID 1 is tested on the compiled binary in tests/e2e/liveness.test.ts.)
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { acquireLock, LOCK_FILE, lockHeld, lockHolder, lockHolderPid } from "../../src/daemon/lock.ts";

const LOCK_MODULE = join(import.meta.dir, "..", "..", "src", "daemon", "lock.ts");

let dir: string;
let holders: Subprocess[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "gotunnel-lock-"));
});
afterEach(async () => {
  for (const holder of holders) holder.kill("SIGKILL");
  await Promise.all(holders.map((holder) => holder.exited));
  holders = [];
  rmSync(dir, { recursive: true, force: true });
});

const lockFile = () => join(dir, LOCK_FILE);

/** Another process that takes the lock in `dir` and keeps it until killed; resolves once it holds it. */
async function holdInAnotherProcess(): Promise<Subprocess<"ignore", "pipe", "inherit">> {
  const script = `const { acquireLock } = await import(${JSON.stringify(LOCK_MODULE)});
acquireLock(${JSON.stringify(dir)}); console.log("locked"); setInterval(() => {}, 1000);`;
  const holder = Bun.spawn([process.execPath, "-e", script], { stdin: "ignore", stdout: "pipe" });
  holders.push(holder);
  const reader = holder.stdout.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  expect(new TextDecoder().decode(value)).toBe("locked\n");
  return holder;
}

/** acquireLock in a fresh process: its error message, or "locked". */
async function acquireInAnotherProcess(): Promise<string> {
  const script = `const { acquireLock } = await import(${JSON.stringify(LOCK_MODULE)});
try { acquireLock(${JSON.stringify(dir)}); console.log("locked"); } catch (error) { console.log(error.message); }`;
  const child = Bun.spawn([process.execPath, "-e", script], { stdin: "ignore", stdout: "pipe" });
  return (await new Response(child.stdout).text()).trim();
}

describe("the daemon lock", () => {
  test("is refused to a second process while the first holds it, naming the holder's pid", async () => {
    const lock = acquireLock(dir);
    expect(readFileSync(lockFile(), "utf8")).toBe(`${process.pid}\n`);
    expect(statSync(lockFile()).mode & 0o777).toBe(0o600);
    expect(await acquireInAnotherProcess()).toBe(`a gotunnel daemon is already running (pid ${process.pid})`);
    lock.release();
    expect(existsSync(lockFile())).toBe(false);
    expect(await acquireInAnotherProcess()).toBe("locked");
  });

  test("a file nobody holds is taken over, whatever live pid it names (a zombie's, or init's)", () => {
    writeFileSync(lockFile(), "1\n");
    expect(lockHeld(dir)).toBe(false);
    const lock = acquireLock(dir);
    expect(readFileSync(lockFile(), "utf8")).toBe(`${process.pid}\n`);
    lock.release();
  });

  test("dies with its holder: after SIGKILL it is free at once", async () => {
    const holder = await holdInAnotherProcess();
    expect(lockHolderPid(dir)).toBe(holder.pid);
    expect(() => acquireLock(dir)).toThrow(`already running (pid ${holder.pid})`);
    const watched = lockHolder(dir);
    expect(watched?.stillHeld()).toBe(true);
    holder.kill("SIGKILL");
    await holder.exited;
    expect(watched?.stillHeld()).toBe(false);
    expect(lockHolder(dir)).toBeUndefined();
    acquireLock(dir).release();
  });

  test("is never taken through a link planted at its path", () => {
    const target = join(dir, "target");
    writeFileSync(target, "precious\n");
    symlinkSync(target, lockFile());
    expect(() => acquireLock(dir)).toThrow(`the daemon lock ${lockFile()} is a symbolic link`);
    expect(() => lockHolder(dir)).toThrow("is a symbolic link");
    expect(readFileSync(target, "utf8")).toBe("precious\n");
  });

  test("keep() re-creates a removed lock file, locked, so a second daemon is refused again", async () => {
    const lock = acquireLock(dir);
    expect(lock.keep()).toEqual({ kind: "kept" });
    unlinkSync(lockFile());
    expect(lockHeld(dir)).toBe(false);
    expect(lock.keep()).toEqual({ kind: "restored" });
    expect(lockHolderPid(dir)).toBe(process.pid);
    expect(await acquireInAnotherProcess()).toBe(`a gotunnel daemon is already running (pid ${process.pid})`);
    rmSync(dir, { recursive: true });
    expect(lock.keep()).toEqual({ kind: "restored" });
    expect(lockHolderPid(dir)).toBe(process.pid);
    lock.release();
  });

  test("keep() reports a path another daemon took meanwhile, and release() leaves that daemon's file alone", async () => {
    const lock = acquireLock(dir);
    unlinkSync(lockFile());
    const other = await holdInAnotherProcess();
    expect(lock.keep()).toEqual({ kind: "taken", pid: other.pid });
    lock.release();
    expect(lockHolderPid(dir)).toBe(other.pid);
  });
});
