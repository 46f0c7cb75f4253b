/**
 * Under `sudo`, gotunnel works in the invoking user's home (paths.ts), and the files it creates there must belong to
 * that user too: a root-owned CA, state file or control socket would lock the user out of their own gotunnel the next
 * time they run it without sudo (the two-CAs trap mkcert and portless fell into).
 */
import { chownSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";

export interface FileOwner {
  uid: number;
  gid: number;
}

/** The user who ran `sudo gotunnel …`, when we are root because of it; undefined otherwise. */
export function invokingOwner(env: Record<string, string | undefined> = process.env): FileOwner | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(env.SUDO_UID);
  const gid = Number(env.SUDO_GID);
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid <= 0) return undefined;
  return { uid, gid };
}

/**
 * Gives each path (and, for directories, everything below: gotunnel's directories hold a handful of files) to the
 * invoking user. Symlinks are not followed. A path that does not exist is skipped.
 */
export function giveToInvokingUser(paths: string[], env: Record<string, string | undefined> = process.env): void {
  const owner = invokingOwner(env);
  if (!owner) return;
  for (const path of paths) chownTree(path, owner);
}

function chownTree(path: string, owner: FileOwner): void {
  let isDirectory: boolean;
  try {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return;
    isDirectory = stat.isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  chownSync(path, owner.uid, owner.gid);
  if (isDirectory) for (const entry of readdirSync(path)) chownTree(join(path, entry), owner);
}
