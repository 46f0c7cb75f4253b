/**
 * The directory safe-fs.ts opened and checked, and every operation on the names in it (safe-fs.ts says why). On
 * Linux each name is reached through the open descriptor (`/proc/self/fd/N/name`), never through the path again.
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
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { diskFullError, GotunnelError, isDiskFull } from "../core/errors.ts";
import { checked, DIRECTORY_FDS, O_NOFOLLOW, openDirectoryAt } from "./dir-open.ts";
import type { SudoUser } from "./owner.ts";
import { hardLinkRefusal, linkRefusal, notRegularRefusal, ownerRefusal } from "./safe-fs-errors.ts";

/** Linux resolves `/proc/self/fd/N/name` through descriptor N itself; elsewhere there is no path-based openat. */
const PROC_FD = process.platform === "linux" && existsSync("/proc/self/fd");
const TEMP_SUFFIX_BYTES = 8;

/** A checked, open directory (see safe-fs.ts); every method reaches its names through the open descriptor. */
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
    if (!DIRECTORY_FDS) {
      mkdirSync(this.pathOf(name), { recursive: true, mode });
      return new OwnedDir(this.pathOf(name), undefined, this.#sudo);
    }
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
      // O_NONBLOCK: a FIFO put in a file's place would block the open, and then the read, forever.
      fd = openSync(this.#at(name), constants.O_RDONLY | constants.O_NONBLOCK | (this.#sudo ? O_NOFOLLOW : 0));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw this.#mapped(error, name);
    }
    try {
      if (!fstatSync(fd).isFile()) throw notRegularRefusal(this.pathOf(name), "read");
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

  /**
   * Creates `name`, which must not exist, already prepared: a random temp file gets `prepare(fd)` (a lock, say) and
   * `data`, then is linked into place (EEXIST thrown as is), so no other process ever sees it unprepared. Returns its
   * open descriptor; the caller closes it.
   */
  createPrepared(name: string, data: string, mode: number, prepare: (fd: number) => void): number {
    const temp = `.${name}.${randomBytes(TEMP_SUFFIX_BYTES).toString("hex")}.tmp`;
    return this.#guard(name, () => {
      const fd = this.createExclusive(temp, mode);
      try {
        prepare(fd);
        writeAll(fd, Buffer.from(data, "utf8"));
        linkSync(this.#at(temp), this.#at(name));
        return fd;
      } catch (error) {
        closeSync(fd);
        throw error;
      } finally {
        this.remove(temp);
      }
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
    // Not a prefix of another descriptor's path: /proc/self/fd/12 must not match /proc/self/fd/123.
    const anchor = new RegExp(`/proc/self/fd/${this.#fd}(?![0-9])`, "g");
    error.message = error.message.replace(anchor, this.path);
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

function writeAll(fd: number, buffer: Buffer): void {
  for (let offset = 0; offset < buffer.length; ) offset += writeSync(fd, buffer, offset);
}
