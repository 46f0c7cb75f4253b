/**
 * Under `sudo`, gotunnel works in the invoking user's home (paths.ts), and the files it creates there must belong to
 * that user too: a root-owned CA, state file or control socket would lock the user out of their own gotunnel the next
 * time they run it without sudo (the two-CAs trap mkcert and portless fell into). safe-fs.ts creates every file and
 * directory with this owner; this module only says who that is.
 */
import { readFileSync } from "node:fs";

export interface FileOwner {
  uid: number;
  gid: number;
}

/** The user `sudo` acts for: who gotunnel's files must belong to, and the name messages use. */
export interface SudoUser extends FileOwner {
  name: string;
}

/** The user who ran `sudo gotunnel …`, when we are root because of it; undefined otherwise. */
export function invokingOwner(env: Record<string, string | undefined> = process.env): SudoUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(env.SUDO_UID);
  const gid = Number(env.SUDO_GID);
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid <= 0) return undefined;
  return { uid, gid, name: env.SUDO_USER || userName(uid) };
}

/** The login name of `uid` from the passwd file, else `uid <n>`: only for messages. */
export function userName(uid: number, passwdFile = "/etc/passwd"): string {
  if (uid === 0) return "root";
  try {
    const line = readFileSync(passwdFile, "utf8")
      .split("\n")
      .find((candidate) => candidate.split(":")[2] === String(uid));
    const name = line?.split(":")[0];
    if (name) return name;
  } catch (error) {
    // No passwd file (macOS keeps users in Directory Services): the number still says who it is.
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  return `uid ${uid}`;
}

/**
 * `argv` run as the invoking user instead of root: for a program that works inside their home (NSS's certutil in
 * ~/.pki/nssdb), where a link they put there would otherwise be followed, and written through, as root. setpriv
 * (util-linux) takes numeric ids, so no passwd lookup can go wrong; macOS has sudo's `-u #uid`.
 */
export function asInvokingUser(
  argv: string[],
  owner: SudoUser,
  platform: NodeJS.Platform = process.platform,
): string[] {
  if (platform === "darwin") return ["sudo", "-n", "-u", `#${owner.uid}`, "--", ...argv];
  return ["setpriv", `--reuid=${owner.uid}`, `--regid=${owner.gid}`, "--clear-groups", "--", ...argv];
}
