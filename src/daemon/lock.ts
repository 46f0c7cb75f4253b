/**
 * One daemon per user. `reusePort` would let a second daemon bind the same ports silently (DESIGN.md), so the daemon
 * holds an exclusive flock (platform/flock.ts) on `<stateDir>/daemon.lock` for its whole life. The kernel releases it
 * when the daemon exits, also when it is killed and lingers as a zombie that `kill(pid, 0)` calls alive. The pid in
 * the file is for messages and signals only; whether a daemon runs is decided by the lock alone.
 *
 * The file lives in the state dir, not next to the socket in the runtime dir: a tmp cleaner or logind may remove the
 * runtime dir under a running daemon, and the lock is how a command still finds that daemon (daemon/reach.ts).
 *
 * A lock file only ever appears already locked: it is written under a random name, locked, and then linked into
 * place (link(2) fails if the name exists). So a file at the path that nobody holds is always a leftover, and is
 * taken over. Windows has no flock: there the pid decides, which is sound because Windows has no zombies (libuv's
 * uv_kill(pid, 0) reports an exited process as gone).
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fchownSync,
  fstatSync,
  linkSync,
  lstatSync,
  openSync,
  readSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { diskFullError, GotunnelError, isDiskFull } from "../core/errors.ts";
import { fileLocks, flockHolder } from "../platform/flock.ts";
import { invokingOwner } from "../platform/owner.ts";
import { withOwnedDir } from "../platform/safe-fs.ts";

export const LOCK_FILE = "daemon.lock";
const STATE_DIR_MODE = 0o700;
const LOCK_FILE_MODE = 0o600;
/** Never follow a link planted at the lock's path (a daemon under sudo writes into the user's directory). */
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
/**
 * Tries to take the lock. A holder seen between tries may be another command removing a leftover file (it holds
 * that file for a moment), so "running" is believed only when every try saw it.
 */
const ACQUIRE_TRIES = 5;
const ACQUIRE_RETRY_MS = 10;
const PID_BYTES = 32;

export function lockPath(stateDir: string): string {
  return join(stateDir, LOCK_FILE);
}

/**
 * What `DaemonLock.keep()` found: still in place; put back after it was removed; a leftover at the path that another
 * command is looking at, so the next check puts ours back; or the path now held by another daemon.
 */
export type KeepResult =
  | { kind: "kept" }
  | { kind: "restored" }
  | { kind: "pending" }
  | { kind: "taken"; pid: number | undefined };

export interface DaemonLock {
  readonly path: string;
  /** Makes sure the path still names the file this daemon holds, re-creating it (locked) when it was removed. */
  keep(): KeepResult;
  /** Removes the file (if it is still ours) and drops the lock. */
  release(): void;
}

/** A lock file opened to see whether it is held; `stillHeld()` polls the same file (for waiting on an exit). */
export interface LockHolder {
  /** The holder's pid as this process sees it; undefined when it cannot be told (a holder in another container). */
  pid: number | undefined;
  stillHeld(): boolean;
  close(): void;
}

type Found = { kind: "absent" } | { kind: "stale"; fd: number } | { kind: "held"; fd: number; pid: number | undefined };

/** Takes the daemon lock in `stateDir`, or fails with E_DAEMON naming the running daemon's pid. */
export function acquireLock(stateDir: string): DaemonLock {
  ensureStateDir(stateDir);
  const path = lockPath(stateDir);
  let held: { pid: number | undefined } | undefined;
  for (let attempt = 0; attempt < ACQUIRE_TRIES; attempt++) {
    const fd = publish(path);
    if (fd !== undefined) return heldLock(path, fd);
    const found = inspect(path);
    held = undefined;
    if (found.kind === "held") {
      held = { pid: found.pid };
      closeSync(found.fd);
      Bun.sleepSync(ACQUIRE_RETRY_MS);
    } else if (found.kind === "stale" && !removeStale(path, found.fd)) Bun.sleepSync(ACQUIRE_RETRY_MS);
  }
  if (!held) {
    throw new GotunnelError("E_DAEMON", `could not take the daemon lock ${path}`, {
      hint: "another gotunnel is starting at the same moment; run your command again",
    });
  }
  const { pid } = held;
  const who = pid === undefined ? `(it holds ${path})` : `(pid ${pid})`;
  throw new GotunnelError("E_DAEMON", `a gotunnel daemon is already running ${who}`, {
    hint:
      pid === undefined
        ? "it runs outside this process's view (another container sharing this directory?): stop it there"
        : `use \`gotunnel status\` to see it, or stop it with \`gotunnel daemon stop\` (or \`kill ${pid}\`)`,
    details: { pid, lock: path },
  });
}

/** Whether a live daemon holds the lock in `stateDir`: the one answer to "is a gotunnel daemon running". */
export function lockHeld(stateDir: string): boolean {
  const holder = lockHolder(stateDir);
  holder?.close();
  return holder !== undefined;
}

/** The pid of the daemon holding the lock in `stateDir`; undefined when none does (or it cannot be seen). */
export function lockHolderPid(stateDir: string): number | undefined {
  const holder = lockHolder(stateDir);
  holder?.close();
  return holder?.pid;
}

/** The lock in `stateDir` when a live daemon holds it (close it when done); undefined when none does. */
export function lockHolder(stateDir: string): LockHolder | undefined {
  const found = inspect(lockPath(stateDir));
  if (found.kind === "absent") return undefined;
  if (found.kind === "stale") {
    closeSync(found.fd);
    return undefined;
  }
  const { fd, pid } = found;
  let open = true;
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  return {
    pid,
    stillHeld: () => {
      if (!open) return false;
      const held = isHeld(fd, pid);
      if (!held) close();
      return held;
    },
    close,
  };
}

/**
 * Writes our pid to a fresh, locked file under a random name and links it to `path`. Returns the locked descriptor,
 * or undefined when `path` already exists.
 */
function publish(path: string): number | undefined {
  const temp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  const flags = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW;
  let fd: number;
  try {
    fd = openSync(temp, flags, LOCK_FILE_MODE);
  } catch (error) {
    throw cannotCreate(path, error);
  }
  let linked = false;
  try {
    // A file nobody else has opened yet: taking its lock cannot fail.
    fileLocks()?.tryLock(fd, "exclusive");
    writeSync(fd, `${process.pid}\n`);
    // Under sudo, the user's own commands must be able to open it to see whether a daemon holds it.
    const owner = invokingOwner();
    if (owner) fchownSync(fd, owner.uid, owner.gid);
    linkSync(temp, path);
    linked = true;
    return fd;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return undefined;
    throw cannotCreate(path, error);
  } finally {
    unlinkSync(temp);
    if (!linked) closeSync(fd);
  }
}

/**
 * The state dir, created when missing. Under sudo each missing directory is the invoking user's, and one that is a
 * link or someone else's is refused (platform/safe-fs.ts): the lock file is then created inside it as root.
 */
function ensureStateDir(stateDir: string): void {
  withOwnedDir(stateDir, STATE_DIR_MODE, () => undefined);
}

/** A full disk, a read-only or foreign directory: E_IO (exit 8), and no half-written lock file is left. */
function cannotCreate(path: string, error: unknown): GotunnelError {
  if (isDiskFull(error)) return diskFullError(error, path, dirname(path));
  return new GotunnelError("E_IO", `cannot create the daemon lock ${path}: ${(error as Error).message}`, {
    hint: `make sure ${dirname(path)} is yours and writable, and its disk is not full`,
    cause: error,
  });
}

/** Opens the file at `path` (never through a link) and says whether a live process holds it. */
function inspect(path: string): Found {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { kind: "absent" };
    if (code === "EACCES") {
      throw new GotunnelError("E_IO", `cannot read the daemon lock ${path}: permission denied`, {
        hint: "a daemon started as another user (root, without sudo) holds it: run this command as that user",
        cause: error,
      });
    }
    if (code === "ELOOP") {
      throw new GotunnelError("E_IO", `the daemon lock ${path} is a symbolic link`, {
        hint: `gotunnel never follows a link there: remove it (\`rm ${path}\`) and run your command again`,
        cause: error,
      });
    }
    throw error;
  }
  const written = readPid(fd);
  if (!isHeld(fd, written)) return { kind: "stale", fd };
  // Linux names the holder itself: trust that over the file, which a daemon in another pid namespace also writes.
  const kernel = fileLocks() ? flockHolder(fd) : null;
  return { kind: "held", fd, pid: kernel === null ? written : kernel || undefined };
}

/**
 * A shared lock is refused only while someone holds the exclusive one; two commands looking at the same moment do
 * not disturb each other (nor a daemon, whose lock is taken before the file is visible).
 */
function isHeld(fd: number, pid: number | undefined): boolean {
  const locks = fileLocks();
  if (locks) return !locks.tryLock(fd, "shared");
  return pid !== undefined && isAlive(pid);
}

/**
 * A leftover: removed while we hold it, and only if the path still names it (else someone replaced it already).
 * False when another command is looking at it right now (its shared lock): the next try gets it.
 */
function removeStale(path: string, fd: number): boolean {
  try {
    const locks = fileLocks();
    if (locks && !locks.tryLock(fd, "exclusive")) return false;
    if (sameFile(fd, path)) unlinkSync(path);
    return true;
  } finally {
    closeSync(fd);
  }
}

function heldLock(path: string, initial: number): DaemonLock {
  let fd = initial;
  const keep = (): KeepResult => {
    if (sameFile(fd, path)) return { kind: "kept" };
    const found = inspect(path);
    if (found.kind === "held") {
      closeSync(found.fd);
      return { kind: "taken", pid: found.pid };
    }
    if (found.kind === "stale" && !removeStale(path, found.fd)) return { kind: "pending" };
    ensureStateDir(dirname(path));
    const next = publish(path);
    // Someone created it since we looked: the next check sees whose it is.
    if (next === undefined) return { kind: "pending" };
    // The new file is ours and locked before the old descriptor (and its lock) goes.
    closeSync(fd);
    fd = next;
    return { kind: "restored" };
  };
  return {
    path,
    keep,
    release() {
      if (sameFile(fd, path)) unlinkSync(path);
      closeSync(fd);
    },
  };
}

/** True when `path` names the open file `fd` (same device and inode), without following a link. */
function sameFile(fd: number, path: string): boolean {
  try {
    const named = lstatSync(path);
    const open = fstatSync(fd);
    return named.dev === open.dev && named.ino === open.ino;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

function readPid(fd: number): number | undefined {
  const buffer = Buffer.alloc(PID_BYTES);
  const length = readSync(fd, buffer, 0, PID_BYTES, 0);
  const pid = Number.parseInt(buffer.subarray(0, length).toString("utf8").trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Windows only (see the top of this file): signal 0 checks that the pid exists without sending anything. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else, which still means the pid is taken.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
