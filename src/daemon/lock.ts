/**
 * One daemon per user. `reusePort` would let a second daemon bind the same ports silently (DESIGN.md), so the lock
 * is a pid file created with O_EXCL in the runtime dir. A pid file whose process is gone (kill -9, reboot) is stale
 * and is taken over.
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { diskFullError, GotunnelError, isDiskFull } from "../core/errors.ts";

export const LOCK_FILE = "daemon.pid";
const RUNTIME_DIR_MODE = 0o700;

export interface DaemonLock {
  path: string;
  release(): void;
}

/** True when a process with this pid exists (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else, which still means the pid is taken.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function readLockPid(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

function tryCreate(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } catch (error) {
    // A full disk: an empty pid file would read as a stale lock to everyone else; leave none.
    unlinkSync(path);
    throw isDiskFull(error) ? diskFullError(error, path, dirname(path)) : error;
  } finally {
    closeSync(fd);
  }
  return true;
}

export function acquireLock(runtimeDir: string): DaemonLock {
  mkdirSync(runtimeDir, { recursive: true, mode: RUNTIME_DIR_MODE });
  const path = join(runtimeDir, LOCK_FILE);
  // Two tries: the second after removing a stale lock. A race with another starting daemon loses cleanly.
  for (let attempt = 0; attempt < 2; attempt++) {
    if (tryCreate(path)) {
      return {
        path,
        release() {
          if (readLockPid(path) === process.pid) unlinkSync(path);
        },
      };
    }
    const holder = readLockPid(path);
    if (holder !== undefined && holder !== process.pid && isAlive(holder)) {
      throw new GotunnelError("E_DAEMON", `a gotunnel daemon is already running (pid ${holder})`, {
        hint: `use \`gotunnel status\` to see it, or stop it with \`gotunnel daemon stop\` (or \`kill ${holder}\`)`,
        details: { pid: holder, lock: path },
      });
    }
    unlinkSync(path);
  }
  throw new GotunnelError("E_DAEMON", `could not take the daemon lock ${path}`, {
    hint: `another gotunnel is starting at the same moment; try again, or remove ${path} if no gotunnel is running`,
  });
}
