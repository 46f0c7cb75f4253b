/**
 * The daemon's persisted routes: one JSON file in the state dir, written atomically (platform/safe-fs.ts: random temp
 * file, fsync, rename) so a crash or a full disk leaves either the old or the new file, never half of one. A file we
 * cannot parse is moved aside with a warning, never silently emptied: the user can read what was there.
 */
import { basename, dirname, join } from "node:path";
import * as v from "valibot";
import { GotunnelError, isGotunnelError } from "../core/errors.ts";
import { existingOwnedDir, type OwnedDir, withOwnedDir } from "../platform/safe-fs.ts";
import { routeRecordSchema } from "./control/protocol.ts";

export const STATE_FILE = "routes.json";
const STATE_VERSION = 1;
const STATE_FILE_MODE = 0o600;
export const STATE_DIR_MODE = 0o700;

const stateSchema = v.object({ version: v.literal(STATE_VERSION), routes: v.array(routeRecordSchema) });
export type PersistedState = v.InferOutput<typeof stateSchema>;
export type RouteRecord = PersistedState["routes"][number];

export interface LoadedState {
  routes: RouteRecord[];
  /** Set when the file was unreadable and moved aside: say so to the user. */
  warning?: string;
}

export function statePath(stateDir: string): string {
  return join(stateDir, STATE_FILE);
}

function moveAside(dir: OwnedDir, path: string, reason: string, now: Date): string {
  const aside = `${path}.corrupt-${now.toISOString().replace(/[:.]/g, "-")}`;
  dir.rename(basename(path), basename(aside));
  return `the state file ${path} could not be used (${reason}); it was moved to ${aside} and gotunnel starts with no saved routes`;
}

export function loadState(path: string, now = new Date()): LoadedState {
  const dir = existingOwnedDir(dirname(path));
  if (!dir) return { routes: [] };
  try {
    return parseState(dir, path, now);
  } finally {
    dir.close();
  }
}

function parseState(dir: OwnedDir, path: string, now: Date): LoadedState {
  let text: string | undefined;
  try {
    text = dir.readText(basename(path));
  } catch (error) {
    // A FIFO or a directory in its place can be moved aside like a corrupt file: the daemon must start.
    if (isGotunnelError(error) && error.details?.reason === "not a file") {
      return { routes: [], warning: moveAside(dir, path, "not a regular file", now) };
    }
    if (isGotunnelError(error)) throw error;
    throw new GotunnelError("E_IO", `cannot read the state file ${path}: ${(error as Error).message}`, {
      hint: `check its owner and permissions (ls -l ${path}); under sudo, gotunnel uses the invoking user's files`,
      cause: error,
    });
  }
  if (text === undefined) return { routes: [] };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { routes: [], warning: moveAside(dir, path, `not valid JSON: ${(error as Error).message}`, now) };
  }
  const parsed = v.safeParse(stateSchema, json);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const where = issue?.path?.map((item) => String(item.key)).join(".") ?? "(root)";
    return { routes: [], warning: moveAside(dir, path, `unexpected content at ${where}: ${issue?.message}`, now) };
  }
  return { routes: parsed.output.routes };
}

export function saveState(path: string, routes: RouteRecord[]): void {
  const body = `${JSON.stringify({ version: STATE_VERSION, routes } satisfies PersistedState, null, 2)}\n`;
  try {
    withOwnedDir(dirname(path), STATE_DIR_MODE, (dir) => dir.writeAtomic(basename(path), body, STATE_FILE_MODE));
  } catch (error) {
    // A full disk or a refused directory already says which file and what to do.
    if (isGotunnelError(error)) throw error;
    throw new GotunnelError("E_IO", `cannot write the state file ${path}: ${(error as Error).message}`, {
      hint: `check that ${dirname(path)} is writable by you`,
      cause: error,
    });
  }
}
