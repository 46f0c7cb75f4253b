/**
 * `flock(2)`, the one lock that says whether a process is alive: the kernel drops it when the last descriptor of the
 * open file closes, which happens when the process exits, even while it lingers as a zombie under a PID 1 that never
 * reaps (plain `docker run`, many CI runners). `kill(pid, 0)` succeeds on a zombie, so a pid file cannot tell.
 *
 * Neither node:fs nor Bun 1.4.5 offers a file lock (oven-sh/bun#26230), so this is libc's flock through bun:ffi, the
 * only importer of bun:ffi. Checked in the compiled binary on glibc and on musl, where dlopen("libc.so.6") names musl's
 * libc itself (musl's dynamic linker reserves the libc names). Windows has no flock: `fileLocks()` is undefined there
 * and callers decide liveness by pid (daemon/lock.ts says why that is sound on Windows).
 */
import { dlopen, FFIType, type Pointer, read } from "bun:ffi";
import { fstatSync, readFileSync } from "node:fs";

/** flock(2) operations, the same on Linux and macOS (<sys/file.h>). */
const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
/** "Someone else holds it": EWOULDBLOCK, which is EAGAIN (Linux 11, macOS 35). */
const EWOULDBLOCK: Partial<Record<NodeJS.Platform, number>> = { linux: 11, darwin: 35 };
const EINTR = 4;

export type LockKind = "shared" | "exclusive";

export interface FileLocks {
  /**
   * Takes a lock on the open file `fd` without waiting: true when taken, false when another open file description
   * holds a conflicting one. Closing `fd` (or the process exiting) releases it.
   */
  tryLock(fd: number, kind: LockKind): boolean;
}

interface Libc {
  names: string[];
  errno: "__errno_location" | "__error";
}

/** glibc and musl (`libc.musl-<arch>.so.1` is musl's own name, tried in case an embedder renames it), macOS. */
const LIBC: Partial<Record<NodeJS.Platform, Libc>> = {
  linux: {
    names: ["libc.so.6", `libc.musl-${process.arch === "x64" ? "x86_64" : "aarch64"}.so.1`],
    errno: "__errno_location",
  },
  darwin: { names: ["libSystem.B.dylib"], errno: "__error" },
};

let loaded: FileLocks | undefined;

/** libc's flock, loaded on first use (dlopen compiles a small trampoline: about half a millisecond). */
export function fileLocks(platform: NodeJS.Platform = process.platform): FileLocks | undefined {
  const libc = LIBC[platform];
  if (!libc) return undefined;
  loaded ??= load(libc, EWOULDBLOCK[platform] ?? 0);
  return loaded;
}

function load(libc: Libc, wouldBlock: number): FileLocks {
  const failures: string[] = [];
  for (const name of libc.names) {
    try {
      const { symbols } = dlopen(name, {
        flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        [libc.errno]: { args: [], returns: FFIType.ptr },
      });
      const flock = symbols.flock as (fd: number, operation: number) => number;
      const errnoPointer = symbols[libc.errno] as () => Pointer | null;
      const errno = () => {
        const where = errnoPointer();
        return where === null ? 0 : read.i32(where, 0);
      };
      return { tryLock: (fd, kind) => tryLock(flock, errno, wouldBlock, fd, kind) };
    } catch (error) {
      failures.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  throw new Error(`cannot load flock from libc (${failures.join("; ")})`);
}

function tryLock(
  flock: (fd: number, operation: number) => number,
  errno: () => number,
  wouldBlock: number,
  fd: number,
  kind: LockKind,
): boolean {
  const operation = (kind === "exclusive" ? LOCK_EX : LOCK_SH) | LOCK_NB;
  for (;;) {
    if (flock(fd, operation) === 0) return true;
    const code = errno();
    if (code === wouldBlock) return false;
    // A signal arrived during the call: ask again (LOCK_NB returns at once).
    if (code !== EINTR) throw new Error(`flock(${fd}) failed with errno ${code}`);
  }
}

/** A /proc/locks line of a granted exclusive flock: `1: FLOCK  ADVISORY  WRITE <pid> <major>:<minor>:<inode> 0 EOF`. */
const PROC_LOCK_LINE = /^\d+:\s+FLOCK\s+\S+\s+WRITE\s+(\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/;

/**
 * Who holds the exclusive flock on the file open as `fd`, as the kernel reports it in /proc/locks (Linux): the pid in
 * this process's pid namespace, or 0 when the holder is outside it (another container sharing the directory), so a
 * pid written in a file is never signalled in the wrong namespace. Null when the kernel does not say (macOS).
 */
export function flockHolder(fd: number): number | null {
  let table: string;
  try {
    table = readFileSync("/proc/locks", "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  const { dev, ino } = fstatSync(fd);
  // st_dev as the kernel prints it: major and minor in hex (new_decode_dev in the kernel's kdev_t.h).
  const major = ((dev >> 8) & 0xfff).toString(16);
  const minor = ((dev & 0xff) | ((dev >> 12) & 0xfff00)).toString(16);
  for (const line of table.split("\n")) {
    const match = PROC_LOCK_LINE.exec(line);
    if (!match || Number(match[4]) !== ino) continue;
    if (Number.parseInt(match[2] ?? "", 16).toString(16) !== major) continue;
    if (Number.parseInt(match[3] ?? "", 16).toString(16) !== minor) continue;
    return Number(match[1]);
  }
  return 0;
}
