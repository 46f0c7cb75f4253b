/**
 * Opening and checking one directory for safe-fs.ts and owned-dir.ts: without following a link at its last component
 * (under sudo), its owner checked on the descriptor, and the errors a user can act on (a link, not a directory, a
 * directory of someone else's in the way).
 */
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { SudoUser } from "./owner.ts";
import { accessRefusal, linkRefusal, notDirectoryRefusal, ownerRefusal } from "./safe-fs-errors.ts";

// Windows has neither flag (nor symlinks a user can plant in a profile without privileges): 0 leaves them out.
export const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_DIRECTORY = constants.O_DIRECTORY ?? 0;
/** Directory descriptors: Windows cannot open a directory as a file, so there names go through the path. */
export const DIRECTORY_FDS = process.platform !== "win32";

/**
 * open(O_DIRECTORY), with O_NOFOLLOW when `noFollow`; undefined when nothing is there. Linux answers O_NOFOLLOW on a
 * link with ELOOP, or with ENOTDIR when O_DIRECTORY is checked first (a link to a directory): lstat tells them apart.
 */
export function openDirectoryAt(
  at: string,
  shown: string,
  sudo: SudoUser | undefined,
  noFollow: boolean,
): number | undefined {
  try {
    return openSync(at, constants.O_RDONLY | O_DIRECTORY | (noFollow ? O_NOFOLLOW : 0));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "EACCES") throw permissionError(error, shown);
    if (code !== "ELOOP" && code !== "ENOTDIR") throw error;
    if (isLink(at)) throw linkRefusal(shown, sudo, "directory");
    throw notDirectoryRefusal(shown);
  }
}

/** False also when the path cannot even be looked at (a file where one of its parents should be). */
function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOTDIR") return false;
    throw error;
  }
}

/**
 * EACCES on one of gotunnel's paths, without sudo: says which directory is in the way and whose it is (root's, most
 * often, after an older `sudo gotunnel` created ~/.local as root). Any other error passes through.
 */
export function permissionError(error: unknown, path: string): unknown {
  const me = process.getuid?.();
  if ((error as NodeJS.ErrnoException).code !== "EACCES" || me === undefined) return error;
  let blocking = path;
  while (!existsSync(blocking) && blocking !== dirname(blocking)) blocking = dirname(blocking);
  const owner = statSync(blocking).uid;
  return owner === me ? error : accessRefusal(path, blocking, owner, error);
}

/** Under sudo, the directory on `fd` must belong to the invoking user; closes `fd` when it does not. */
export function checked(fd: number, path: string, sudo: SudoUser | undefined): number {
  if (!sudo) return fd;
  const owner = fstatSync(fd).uid;
  if (owner === sudo.uid) return fd;
  closeSync(fd);
  throw ownerRefusal(path, owner, sudo);
}
