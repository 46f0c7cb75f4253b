/** Naming and writing the files gotunnel changes in a project: a backup's free name, a rewrite that keeps one. */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { withOwnedDir } from "../platform/safe-fs.ts";

/** The permission bits a rewritten file keeps. */
const MODE_BITS = 0o777;
/** Used only if safe-fs had to create the directory, which for a file that exists it never does. */
const DIR_MODE = 0o755;

/** `name.<suffix>`, or `name.<suffix>.2`, `.3`… when that exists: an earlier backup is never overwritten. */
export function backupName(dir: string, name: string, suffix: string): string {
  const base = `${name}.${suffix}`;
  let candidate = base;
  for (let n = 2; existsSync(join(dir, candidate)); n++) candidate = `${base}.${n}`;
  return candidate;
}

/**
 * Replaces `file` with `text`, keeping the original as a backup first (created with link(2), so never over another
 * file) and the file's permission bits. The new content is written to a temp file, fsynced and renamed over the
 * file, so a reader sees the old or the new config, never half of one. Returns the backup's path.
 */
export function rewriteKeepingBackup(file: string, original: string, text: string, suffix: string): string {
  const dir = dirname(file);
  const name = basename(file);
  const mode = statSync(file).mode & MODE_BITS;
  return withOwnedDir(dir, DIR_MODE, (owned) => {
    const backup = backupName(dir, name, suffix);
    owned.writeNew(backup, original, mode);
    owned.writeAtomic(name, text, mode);
    return join(dir, backup);
  });
}
