/**
 * The daemon's persisted routes: one JSON file in the state dir, written atomically (temp file, fsync, rename) so a
 * crash leaves either the old or the new file, never half of one. A file we cannot parse is moved aside with a
 * warning, never silently emptied: the user can read what was there.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import * as v from "valibot";
import { GotunnelError } from "../core/errors.ts";
import { giveToInvokingUser } from "../platform/owner.ts";
import { routeRecordSchema } from "./control/protocol.ts";

export const STATE_FILE = "routes.json";
const STATE_VERSION = 1;
const STATE_FILE_MODE = 0o600;
const STATE_DIR_MODE = 0o700;

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

function moveAside(path: string, reason: string, now: Date): string {
  const aside = `${path}.corrupt-${now.toISOString().replace(/[:.]/g, "-")}`;
  renameSync(path, aside);
  return `the state file ${path} could not be used (${reason}); it was moved to ${aside} and gotunnel starts with no saved routes`;
}

export function loadState(path: string, now = new Date()): LoadedState {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { routes: [] };
    throw new GotunnelError("E_IO", `cannot read the state file ${path}: ${(error as Error).message}`, {
      hint: `check its owner and permissions (ls -l ${path}); under sudo, gotunnel uses the invoking user's files`,
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { routes: [], warning: moveAside(path, `not valid JSON: ${(error as Error).message}`, now) };
  }
  const parsed = v.safeParse(stateSchema, json);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const where = issue?.path?.map((item) => String(item.key)).join(".") ?? "(root)";
    return { routes: [], warning: moveAside(path, `unexpected content at ${where}: ${issue?.message}`, now) };
  }
  return { routes: parsed.output.routes };
}

export function saveState(path: string, routes: RouteRecord[]): void {
  mkdirSync(dirname(path), { recursive: true, mode: STATE_DIR_MODE });
  const temp = `${path}.${process.pid}.tmp`;
  const body = `${JSON.stringify({ version: STATE_VERSION, routes } satisfies PersistedState, null, 2)}\n`;
  try {
    const fd = openSync(temp, "w", STATE_FILE_MODE);
    try {
      writeSync(fd, body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    giveToInvokingUser([path]);
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // The temp file was never created or is already gone: nothing to clean up.
    }
    throw new GotunnelError("E_IO", `cannot write the state file ${path}: ${(error as Error).message}`, {
      hint: `check that ${dirname(path)} is writable by you`,
      cause: error,
    });
  }
}
