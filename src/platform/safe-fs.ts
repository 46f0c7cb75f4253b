/**
 * Every file gotunnel writes in its own directories goes through here (issue 15). Under `sudo`, gotunnel is root
 * inside the invoking user's home, where that user can put a symbolic or hard link in place of any name root is about
 * to open: `daemon.log -> /etc/x` would make root append to /etc/x. So:
 *
 * - A directory is opened once, without following a link at its last component (O_DIRECTORY|O_NOFOLLOW), and checked
 *   on the open descriptor: under sudo it must belong to the invoking user. Every name inside it is then reached
 *   through that descriptor (`/proc/self/fd/N/name`, Linux's openat(2) for path-based APIs), so replacing the
 *   directory by a link after the check changes nothing. Links above it (a symlinked /home or ~/.local) are followed:
 *   the directory they lead to must still be the user's own, or gotunnel refuses it with what to do.
 * - Files are created with O_CREAT|O_EXCL|O_NOFOLLOW under a random temp name, given to the user with fchown, written,
 *   fsynced and renamed (or linked) into place: a reader sees the old file or the new one, never half of one, and a
 *   full disk leaves no empty or partial file behind. An append (daemon.log) refuses a link or a file with other links.
 * - Missing directories, ancestors such as ~/.local included, are created one at a time, each given to the user, and
 *   only inside a directory that is already the user's (or a sticky world-writable one such as /tmp).
 *
 * ENOSPC and EDQUOT become one E_IO error naming the full file system. Without sudo nobody else acts on the user's
 * behalf, so only the link rules apply. Without /proc (macOS) names are reached through the checked path again, which
 * leaves a race that Linux does not have.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  existsSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  type Stats,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { diskFullError, GotunnelError, isDiskFull } from "../core/errors.ts";
import { invokingOwner, type SudoUser } from "./owner.ts";
import {
  accessRefusal,
  creationRefusal,
  hardLinkRefusal,
  linkRefusal,
  notDirectoryRefusal,
  notRegularRefusal,
  ownerRefusal,
} from "./safe-fs-errors.ts";

type Env = Record<string, string | undefined>;

// Windows has neither flag (nor symlinks a user can plant in a profile without privileges): 0 leaves them out.
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_DIRECTORY = constants.O_DIRECTORY ?? 0;
/** Directory descriptors: Windows cannot open a directory as a file, so there names go through the path. */
const DIRECTORY_FDS = process.platform !== "win32";
/** Linux resolves `/proc/self/fd/N/name` through descriptor N itself; elsewhere there is no path-based openat. */
const PROC_FD = process.platform === "linux" && existsSync("/proc/self/fd");
const STICKY_WORLD_WRITABLE = 0o1002;
const TEMP_SUFFIX_BYTES = 8;

/**
 * The directory `path`, created (with its missing ancestors) when absent, checked, and open. Close it after use.
 * `mode` applies to the directories this call creates.
 */
export function ownedDir(path: string, mode: number, env: Env = process.env): OwnedDir {
  const sudo = invokingOwner(env);
  const target = resolve(path);
  const fd = openDirectory(target, sudo);
  if (fd === undefined) return createDirectories(target, mode, sudo);
  return new OwnedDir(target, checked(fd, target, sudo), sudo);
}

/** Like ownedDir, but undefined instead of creating a directory that does not exist (for readers). */
export function existingOwnedDir(path: string, env: Env = process.env): OwnedDir | undefined {
  const sudo = invokingOwner(env);
  const target = resolve(path);
  if (!DIRECTORY_FDS) return existsSync(target) ? new OwnedDir(target, undefined, sudo) : undefined;
  const fd = openDirectory(target, sudo);
  return fd === undefined ? undefined : new OwnedDir(target, checked(fd, target, sudo), sudo);
}

/** Opens `fn` on ownedDir(path) and closes it again, whatever happens. */
export function withOwnedDir<T>(path: string, mode: number, fn: (dir: OwnedDir) => T, env: Env = process.env): T {
  const dir = ownedDir(path, mode, env);
  try {
    return fn(dir);
  } finally {
    dir.close();
  }
}

/** A checked, open directory; every method reaches its names through the open descriptor. */
export class OwnedDir {
  readonly path: string;
  readonly #fd: number | undefined;
  readonly #sudo: SudoUser | undefined;

  constructor(path: string, fd: number | undefined, sudo: SudoUser | undefined) {
    this.path = path;
    this.#fd = fd;
    this.#sudo = sudo;
  }

  /** The path a user sees for `name` (messages, results). */
  pathOf(name: string): string {
    return join(this.path, name);
  }

  /** A sub-directory, created when absent (given to the sudo user), checked like ownedDir. */
  subdir(name: string, mode: number): OwnedDir {
    if (!DIRECTORY_FDS) return ownedDir(this.pathOf(name), mode);
    return this.#guard(name, () => new OwnedDir(this.pathOf(name), this.#makeChild(name, mode), this.#sudo));
  }

  /** The directory's own status (owner, mode), from the open descriptor. */
  stat(): Stats {
    return this.#fd === undefined ? lstatSync(this.path) : fstatSync(this.#fd);
  }

  /** Where this directory really is, links resolved (for messages: ~/.local/state may lead to /etc). */
  realPath(): string {
    return PROC_FD && this.#fd !== undefined ? readlinkSync(`/proc/self/fd/${this.#fd}`) : realpathSync(this.path);
  }

  /** Sets this directory's mode (mkdir's is filtered by the umask and never applied to an existing directory). */
  chmod(mode: number): void {
    if (this.#fd !== undefined) fchmodSync(this.#fd, mode);
  }

  /** The file's text, or undefined when it does not exist. Under sudo a link is refused, never read through. */
  readText(name: string): string | undefined {
    let fd: number;
    try {
      fd = openSync(this.#at(name), constants.O_RDONLY | (this.#sudo ? O_NOFOLLOW : 0));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw this.#mapped(error, name);
    }
    try {
      return this.#guard(name, () => readFileSync(fd, "utf8"));
    } finally {
      closeSync(fd);
    }
  }

  /** Replaces (or creates) `name` atomically: a random temp file written, fsynced, then renamed over it. */
  writeAtomic(name: string, data: string, mode: number): void {
    this.#writeThen(name, data, mode, (temp) => renameSync(this.#at(temp), this.#at(name)));
  }

  /**
   * Creates `name`, which must not exist, atomically: like writeAtomic, but link(2) fails with EEXIST (thrown as is)
   * instead of replacing a file another process created meanwhile.
   */
  writeNew(name: string, data: string, mode: number): void {
    this.#writeThen(name, data, mode, (temp) => {
      try {
        linkSync(this.#at(temp), this.#at(name));
      } finally {
        this.remove(temp);
      }
    });
  }

  /** Creates `name` exclusively (never an existing file, never through a link) and returns its descriptor. */
  createExclusive(name: string, mode: number): number {
    return this.#guard(name, () => {
      const fd = openSync(this.#at(name), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, mode);
      this.#giveNew(fd, mode);
      return fd;
    });
  }

  /**
   * Creates `name` exclusively holding `data` (a marker, a pid file); EEXIST is thrown as is. A failed write (a full
   * disk) removes the file again rather than leave it empty.
   */
  createWith(name: string, data: string, mode: number): void {
    const fd = this.createExclusive(name, mode);
    try {
      this.#guard(name, () => writeAll(fd, Buffer.from(data, "utf8")));
    } catch (error) {
      closeSync(fd);
      this.remove(name);
      throw error;
    }
    closeSync(fd);
  }

  /**
   * Opens `name` for appending (a log), creating it if needed. Refuses a link, a non-regular file and, under sudo, a
   * file that has other names (a hard link to someone else's file) or belongs to another user.
   */
  openAppend(name: string, mode: number): number {
    return this.openFile(name, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, mode);
  }

  /** Opens `name` with `flags` (O_NOFOLLOW added), with openAppend's checks; a root-created file goes to the user. */
  openFile(name: string, flags: number, mode: number): number {
    return this.#guard(name, () => {
      const fd = openSync(this.#at(name), flags | O_NOFOLLOW, mode);
      try {
        this.#checkFile(fstatSync(fd), name, fd);
      } catch (error) {
        closeSync(fd);
        throw error;
      }
      return fd;
    });
  }

  /** Removes `name` if present (a link itself, never its target). */
  remove(name: string): void {
    try {
      unlinkSync(this.#at(name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw this.#mapped(error, name);
    }
  }

  rename(from: string, to: string): void {
    this.#guard(from, () => renameSync(this.#at(from), this.#at(to)));
  }

  /**
   * Under sudo, gives `name` to the user when root created it (a socket Bun.serve bound, a file a tool wrote). Never
   * a link, never a file with other names, never something another user owns.
   */
  handBack(name: string): void {
    if (!this.#sudo) return;
    let stat: Stats;
    try {
      stat = lstatSync(this.#at(name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw this.#mapped(error, name);
    }
    if (stat.uid !== 0 || stat.isSymbolicLink() || (!stat.isDirectory() && stat.nlink !== 1)) return;
    lchownSync(this.#at(name), this.#sudo.uid, this.#sudo.gid);
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
  }

  /** `name` through the open descriptor (see the top of this file). */
  #at(name: string): string {
    if (name.includes("/") || name === ".." || name === ".") throw new Error(`not a plain file name: ${name}`);
    return PROC_FD && this.#fd !== undefined ? `/proc/self/fd/${this.#fd}/${name}` : join(this.path, name);
  }

  #writeThen(name: string, data: string, mode: number, commit: (temp: string) => void): void {
    const temp = `.${name}.${randomBytes(TEMP_SUFFIX_BYTES).toString("hex")}.tmp`;
    this.#guard(name, () => {
      const fd = this.createExclusive(temp, mode);
      try {
        try {
          writeAll(fd, Buffer.from(data, "utf8"));
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        commit(temp);
      } catch (error) {
        this.remove(temp);
        throw error;
      }
      this.#syncSelf();
    });
  }

  /** Runs `work`; a full disk or a refused link becomes the message about `name`, anything else passes through. */
  #guard<T>(name: string, work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw this.#mapped(error, name);
    }
  }

  #mapped(error: unknown, name: string): unknown {
    if (error instanceof GotunnelError) return error;
    if (isDiskFull(error)) return diskFullError(error, this.pathOf(name), this.path);
    if ((error as NodeJS.ErrnoException).code === "ELOOP") return linkRefusal(this.pathOf(name), this.#sudo, "file");
    return this.#withRealPaths(error);
  }

  /** Errors say `/proc/self/fd/N/name`; users should read the directory's own path. */
  #withRealPaths(error: unknown): unknown {
    if (this.#fd === undefined || !PROC_FD || !(error instanceof Error)) return error;
    const anchor = `/proc/self/fd/${this.#fd}`;
    error.message = error.message.replaceAll(anchor, this.path);
    const errno = error as NodeJS.ErrnoException;
    if (errno.path) errno.path = errno.path.replace(anchor, this.path);
    return error;
  }

  /** A file this process just created: its final mode (open's is filtered by the umask), and the sudo user's. */
  #giveNew(fd: number, mode: number): void {
    if (!DIRECTORY_FDS) return;
    fchmodSync(fd, mode);
    if (this.#sudo) fchownSync(fd, this.#sudo.uid, this.#sudo.gid);
  }

  #checkFile(stat: Stats, name: string, fd: number): void {
    if (!stat.isFile()) throw notRegularRefusal(this.pathOf(name));
    const sudo = this.#sudo;
    if (!sudo || stat.uid === sudo.uid) return;
    // A second name makes it someone else's file too (a hard link to /etc/shadow writes /etc/shadow).
    if (stat.nlink !== 1) throw hardLinkRefusal(this.pathOf(name), stat.nlink, sudo);
    // root's own file with one name is one an earlier run left here as root; another user's is not ours to write.
    if (stat.uid !== 0) throw ownerRefusal(this.pathOf(name), stat.uid, sudo);
    fchownSync(fd, sudo.uid, sudo.gid);
  }

  /** mkdir `name` here, open it without following a link, give it to the sudo user if this call created it. */
  #makeChild(name: string, mode: number): number {
    let created = true;
    try {
      mkdirSync(this.#at(name), mode);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      created = false;
    }
    // Without sudo a link here is the user's own choice (their CA kept elsewhere, say) and is followed.
    const fd = openDirectoryAt(this.#at(name), this.pathOf(name), this.#sudo, this.#sudo !== undefined);
    if (fd === undefined) throw new Error(`${this.pathOf(name)} vanished right after mkdir`);
    try {
      if (created) {
        fchmodSync(fd, mode);
        if (this.#sudo) fchownSync(fd, this.#sudo.uid, this.#sudo.gid);
      }
      return checked(fd, this.pathOf(name), this.#sudo);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** Makes a rename or link in this directory durable: without it a crash can bring back the old entry. */
  #syncSelf(): void {
    if (this.#fd !== undefined) fsyncSync(this.#fd);
  }
}

/** Opens an existing directory; undefined when it does not exist. Under sudo a link at `path` itself is refused. */
function openDirectory(path: string, sudo: SudoUser | undefined, followLink = false): number | undefined {
  if (!DIRECTORY_FDS) return undefined;
  return openDirectoryAt(path, path, sudo, sudo !== undefined && !followLink);
}

/**
 * open(O_DIRECTORY), with O_NOFOLLOW when `noFollow`; undefined when nothing is there. Linux answers O_NOFOLLOW on a
 * link with ELOOP, or with ENOTDIR when O_DIRECTORY is checked first (a link to a directory): lstat tells them apart.
 */
function openDirectoryAt(at: string, shown: string, sudo: SudoUser | undefined, noFollow: boolean): number | undefined {
  try {
    return openSync(at, constants.O_RDONLY | O_DIRECTORY | (noFollow ? O_NOFOLLOW : 0));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "EACCES") throw permissionError(error, shown);
    if (code !== "ELOOP" && code !== "ENOTDIR") throw error;
    if (lstatSync(at).isSymbolicLink()) throw linkRefusal(shown, sudo, "directory");
    throw notDirectoryRefusal(shown);
  }
}

/**
 * Creates `target` and its missing ancestors. Under sudo, one at a time from the nearest existing ancestor (reached
 * through any links: they are not ours to judge), each inside a directory that is the user's, each given to them.
 */
function createDirectories(target: string, mode: number, sudo: SudoUser | undefined): OwnedDir {
  if (!sudo || !DIRECTORY_FDS) {
    try {
      mkdirSync(target, { recursive: true, mode });
    } catch (error) {
      if (isDiskFull(error)) throw diskFullError(error, target, dirname(target));
      throw permissionError(error, target);
    }
    return new OwnedDir(target, openDirectory(target, sudo), sudo);
  }
  const missing: string[] = [];
  let ancestor = target;
  let fd: number | undefined;
  while (fd === undefined) {
    missing.unshift(basename(ancestor));
    ancestor = dirname(ancestor);
    fd = openDirectory(ancestor, sudo, true);
  }
  let dir = new OwnedDir(ancestor, fd, sudo);
  try {
    for (const name of missing) {
      const parent = dir.stat();
      if (parent.uid !== sudo.uid && (parent.mode & STICKY_WORLD_WRITABLE) !== STICKY_WORLD_WRITABLE) {
        throw creationRefusal(dir.pathOf(name), dir.path, dir.realPath(), parent.uid, sudo);
      }
      const child = dir.subdir(name, mode);
      dir.close();
      dir = child;
    }
    return dir;
  } catch (error) {
    dir.close();
    throw error;
  }
}

/**
 * EACCES on one of gotunnel's paths, without sudo: says which directory is in the way and whose it is (root's, most
 * often, after an older `sudo gotunnel` created ~/.local as root). Any other error passes through.
 */
function permissionError(error: unknown, path: string): unknown {
  const me = process.getuid?.();
  if ((error as NodeJS.ErrnoException).code !== "EACCES" || me === undefined) return error;
  let blocking = path;
  while (!existsSync(blocking) && blocking !== dirname(blocking)) blocking = dirname(blocking);
  const owner = statSync(blocking).uid;
  return owner === me ? error : accessRefusal(path, blocking, owner, error);
}

/** Under sudo, the directory on `fd` must belong to the invoking user; closes `fd` when it does not. */
function checked(fd: number, path: string, sudo: SudoUser | undefined): number {
  if (!sudo) return fd;
  const owner = fstatSync(fd).uid;
  if (owner === sudo.uid) return fd;
  closeSync(fd);
  throw ownerRefusal(path, owner, sudo);
}

function writeAll(fd: number, buffer: Buffer): void {
  for (let offset = 0; offset < buffer.length; ) offset += writeSync(fd, buffer, offset);
}
