/**
 * The files a login service writes, and the directories it had to create for them. Uninstall must leave the user's
 * tree as it found it, so install records each directory it created in a marker line inside the definition file
 * itself (the only thing that is surely ours), and uninstall removes those directories again when they are empty.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** The marker's prefix; what follows it on the line is a JSON array of absolute paths. */
export const CREATED_DIRS_MARKER = "gotunnel-created-dirs: ";

/** The directories the marker in `text` lists; empty when there is none or it does not parse. */
export function createdDirsIn(text: string | undefined): string[] {
  if (text === undefined) return [];
  const at = text.indexOf(CREATED_DIRS_MARKER);
  if (at === -1) return [];
  const line = text.slice(at + CREATED_DIRS_MARKER.length).split("\n")[0] ?? "";
  const json = /^\[.*?\]/.exec(line)?.[0];
  if (!json) return [];
  try {
    const parsed: unknown = JSON.parse(json);
    return Array.isArray(parsed) ? parsed.filter((item): item is string => typeof item === "string") : [];
  } catch (error) {
    // A hand-edited marker: removing fewer directories is the safe side.
    if (error instanceof SyntaxError) return [];
    throw error;
  }
}

/** Creates `dir` and its missing parents; returns those it created, outermost first. */
export function makeDirs(dir: string): string[] {
  const missing: string[] = [];
  for (let current = dir; !existsSync(current); current = dirname(current)) missing.unshift(current);
  mkdirSync(dir, { recursive: true });
  return missing;
}

export function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * Writes a definition file (0644: service managers read it, it holds no secret). `render` gets the directories this
 * install and the ones before it created, so the marker survives a re-install. `managerDirs` are directories the
 * service manager itself will create for it (systemd's `default.target.wants`): recorded when missing now.
 * Returns true when the file's content changed.
 */
export function writeDefinition(
  path: string,
  render: (createdDirs: string[]) => string,
  managerDirs: readonly string[] = [],
): boolean {
  const old = readIfExists(path);
  const byManager = managerDirs.filter((dir) => !existsSync(dir));
  const created = [...new Set([...createdDirsIn(old), ...makeDirs(dirname(path)), ...byManager])];
  const text = render(created);
  if (text === old) return false;
  writeFileSync(path, text, { mode: 0o644 });
  return true;
}

/** Removes the definition file and then each directory install created, innermost first, when it is empty. */
export function removeDefinition(path: string): string[] {
  const text = readIfExists(path);
  if (text === undefined) return [];
  rmSync(path, { force: true });
  removeEmptyDirs(createdDirsIn(text));
  return [path];
}

function removeEmptyDirs(dirs: readonly string[]): void {
  // Deepest first, so a parent is empty by the time it is tried.
  for (const dir of [...new Set(dirs)].sort((a, b) => b.length - a.length)) {
    if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
  }
}
