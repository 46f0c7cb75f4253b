/**
 * What safe-fs.ts says when it refuses a path: which path, who owns it, and the command that fixes it. All E_IO
 * (exit 8): a file or directory gotunnel owns cannot be used as it is.
 */
import { statSync } from "node:fs";
import { resolve, sep } from "node:path";
import { GotunnelError } from "../core/errors.ts";
import { type SudoUser, userName } from "./owner.ts";

/** Without sudo: `path` cannot be used because `blocking` (it, or its nearest existing parent) is someone else's. */
export function accessRefusal(path: string, blocking: string, uid: number, cause: unknown): GotunnelError {
  const owner = userName(uid);
  const me = userName(process.getuid?.() ?? -1);
  const hint =
    uid === 0
      ? `an older \`sudo gotunnel\` may have created it as root; give it back: \`sudo chown -R ${me}: ${blocking}\``
      : `ask ${owner} to share it, or set GOTUNNEL_HOME to a directory of yours`;
  return new GotunnelError(
    "E_IO",
    `cannot use ${path}: permission denied, ${blocking} belongs to ${owner}, not to you (${me})`,
    {
      hint,
      details: { path, blocking, owner: uid, reason: "permission" },
      cause,
    },
  );
}

/** Root, acting for a user, found a symbolic link where gotunnel keeps a file or directory of its own. */
export function linkRefusal(path: string, sudo: SudoUser | undefined, kind: "file" | "directory"): GotunnelError {
  const why = sudo
    ? `gotunnel runs as root here (sudo) and never follows a link in ${sudo.name}'s gotunnel directories`
    : "gotunnel never writes its own files through a link";
  const hint =
    kind === "directory"
      ? `gotunnel needs a real directory there: move what the link points to into its place (or set GOTUNNEL_HOME to that directory), or remove the link (\`rm ${path}\`) to let gotunnel create one`
      : `remove the link (\`rm ${path}\`) and run the command again; gotunnel creates the file itself`;
  return new GotunnelError("E_IO", `${path} is a symbolic link: ${why}`, { hint, details: { path, reason: "link" } });
}

/** Under sudo, a file in the user's directory that is not theirs and has other names: root would write those too. */
export function hardLinkRefusal(path: string, links: number, sudo: SudoUser): GotunnelError {
  return new GotunnelError(
    "E_IO",
    `${path} has ${links - 1} other name${links === 2 ? "" : "s"} (hard links) and is not ${sudo.name}'s: gotunnel, running as root, will not write to a file that may be another one elsewhere`,
    {
      hint: `remove this name (\`rm ${path}\`, the other names keep the file) and run the command again`,
      details: { path, links, reason: "hard link" },
    },
  );
}

/** A gotunnel directory (or file) under sudo that is not the invoking user's. */
export function ownerRefusal(path: string, uid: number, sudo: SudoUser): GotunnelError {
  const owner = userName(uid);
  const hint =
    uid === 0
      ? `if it is ${sudo.name}'s (an older \`sudo gotunnel\` left it to root), give it back: \`sudo chown -R ${sudo.name}: ${path}\``
      : `move it aside (\`sudo mv ${path} ${path}.${owner.replaceAll(" ", "-")}\`) and run the command again`;
  return new GotunnelError(
    "E_IO",
    `${path} belongs to ${owner}, not to ${sudo.name} who ran sudo: gotunnel, running as root, only uses ${sudo.name}'s own directories and files`,
    { hint, details: { path, owner: uid, expected: sudo.uid, reason: "owner" } },
  );
}

/**
 * Under sudo, a missing directory whose parent is not the invoking user's: root would create it for them there.
 * `realParent` is where the parent's path leads when a link is on the way (~/.local/state -> /etc).
 */
export function creationRefusal(
  path: string,
  parent: string,
  realParent: string,
  uid: number,
  sudo: SudoUser,
): GotunnelError {
  const owner = userName(uid);
  const shown = realParent === parent ? parent : `${parent} (a link to ${realParent})`;
  const giveBack =
    uid === 0
      ? `if ${parent} should be ${sudo.name}'s (an older \`sudo gotunnel\` left it to root): \`sudo chown ${sudo.name}: ${parent}\`; otherwise `
      : "";
  return new GotunnelError(
    "E_IO",
    `cannot create ${path}: ${shown} belongs to ${owner}, not to ${sudo.name} who ran sudo, and gotunnel, running as root, creates directories only in ${sudo.name}'s own`,
    {
      hint: `${giveBack}create it for them: \`sudo install -d -m 700 -o ${sudo.name} -g ${sudo.gid} ${path}\``,
      details: { path, parent, realParent, owner: uid, expected: sudo.uid, reason: "parent owner" },
    },
  );
}

/** A device, socket, FIFO or directory where gotunnel keeps a regular file. */
export function notRegularRefusal(path: string, action: "read" | "write to" = "write to"): GotunnelError {
  return new GotunnelError("E_IO", `${path} is not a regular file, so gotunnel will not ${action} it`, {
    hint: `move it aside (\`mv ${path} ${path}.aside\`) and run the command again`,
    details: { path, reason: "not a file" },
  });
}

/** A file (or anything else) where gotunnel keeps a directory. */
export function notDirectoryRefusal(path: string): GotunnelError {
  return new GotunnelError("E_IO", `${path} is not a directory, so gotunnel cannot keep its files there`, {
    hint: `move it aside (\`mv ${path} ${path}.aside\`) and run the command again`,
    details: { path, reason: "not a directory" },
  });
}

/**
 * ENOTDIR from any file call (main.ts maps what nothing else caught): a part of the path is a file. Names that part,
 * and says so when it is GOTUNNEL_HOME itself, a mistake worth its own message. Undefined for any other error.
 */
export function notDirectoryInPath(error: unknown, home = process.env.GOTUNNEL_HOME): GotunnelError | undefined {
  const { code, path } = (error ?? {}) as NodeJS.ErrnoException;
  if (code !== "ENOTDIR" || typeof path !== "string") return undefined;
  const file = firstNonDirectory(resolve(path));
  if (file === undefined) return undefined;
  if (home && resolve(home) === file) {
    return new GotunnelError("E_USAGE", `GOTUNNEL_HOME is ${home}, which is not a directory`, {
      hint: "point GOTUNNEL_HOME at a directory (gotunnel creates it when it is missing), or unset it for the default locations",
      details: { path: file, reason: "not a directory" },
      cause: error,
    });
  }
  return notDirectoryRefusal(file);
}

/** The shallowest part of `path` that exists and is not a directory (it is what made the call fail). */
function firstNonDirectory(path: string): string | undefined {
  let prefix = "";
  for (const part of path.split(sep).filter((name) => name !== "")) {
    prefix = `${prefix}${sep}${part}`;
    try {
      if (!statSync(prefix).isDirectory()) return prefix;
    } catch {
      // Missing from here down: the ENOTDIR came from a part above, which was checked already.
      return undefined;
    }
  }
  return undefined;
}
