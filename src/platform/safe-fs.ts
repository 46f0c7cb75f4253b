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
import { existsSync, mkdirSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { diskFullError, isDiskFull } from "../core/errors.ts";
import { checked, DIRECTORY_FDS, openDirectoryAt, permissionError } from "./dir-open.ts";
import { OwnedDir } from "./owned-dir.ts";
import { invokingOwner, type SudoUser } from "./owner.ts";
import { creationRefusal } from "./safe-fs-errors.ts";

export type { OwnedDir } from "./owned-dir.ts";

type Env = Record<string, string | undefined>;

const STICKY_WORLD_WRITABLE = 0o1002;

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

/** Opens an existing directory; undefined when it does not exist. Under sudo a link at `path` itself is refused. */
function openDirectory(path: string, sudo: SudoUser | undefined, followLink = false): number | undefined {
  if (!DIRECTORY_FDS) return undefined;
  return openDirectoryAt(path, path, sudo, sudo !== undefined && !followLink);
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
