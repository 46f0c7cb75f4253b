/**
 * `gotunnel config migrate`: a config file in an older shape (config/legacy.ts) rewritten in the current one. A
 * JSON, YAML or TOML file (and package.json's "gotunnel" key) is rewritten in place, atomically, after a backup of
 * the original (`<file>.v1.bak`); a .ts/.js file or .gotunnelrc is code or rc syntax gotunnel will not rewrite, so
 * the exact edits are returned for the user to make, with the whole config in the current shape.
 */
import { readFileSync, statSync } from "node:fs";
import { basename, extname, resolve } from "node:path";
import { CONFIG_VERSION, type ConfigChange, configVersion, migrateLegacy } from "../config/legacy.ts";
import { RC_FILE, readConfigFile } from "../config/load.ts";
import { GotunnelError } from "../core/errors.ts";
import { rewriteKeepingBackup } from "./files.ts";
import { type DataFormat, dataFormatOf, parseData, stringifyData } from "./formats.ts";

const PACKAGE_JSON_KEY = "gotunnel";

export type MigrateOutcome =
  /** Already the current shape: nothing to do. */
  | { file: string; status: "current" }
  /** Rewritten in place; the original is at `backup`. */
  | { file: string; status: "rewritten"; from: number; changes: ConfigChange[]; backup: string; lostComments: boolean }
  /**
   * Code or rc syntax: `edits` says what to change by hand, `replacement` is the whole config in the current shape
   * (a `defineConfig` call, or .gotunnelrc lines).
   */
  | {
      file: string;
      status: "edits";
      kind: "code" | "rc";
      from: number;
      changes: ConfigChange[];
      edits: string[];
      replacement: string;
    };

export async function migrateFile(given: string, env: Record<string, string | undefined>): Promise<MigrateOutcome> {
  const file = resolve(given);
  if (!statSync(file, { throwIfNoEntry: false })?.isFile()) {
    throw new GotunnelError("E_USAGE", `${file} does not exist or is not a file`, {
      hint: "name a config file, or run `gotunnel config migrate` alone for every config file gotunnel reads here",
    });
  }
  const isPackageJson = basename(file) === "package.json";
  const format = isPackageJson ? "json" : dataFormatOf(extname(file));
  if (format === undefined) {
    const kind = basename(file) === RC_FILE ? "rc" : "code";
    return migrateByHand(file, await readConfigFile(file, env), kind);
  }
  const original = readFileSync(file, "utf8");
  const parsed = parse(file, format, original);
  const raw = isPackageJson ? (parsed as Record<string, unknown>)[PACKAGE_JSON_KEY] : parsed;
  const from = configVersion(raw, file);
  if (from === CONFIG_VERSION || !isPlainObject(raw)) return { file, status: "current" };
  const { value, changes } = migrateLegacy(raw);
  const data = isPackageJson ? { ...(parsed as Record<string, unknown>), [PACKAGE_JSON_KEY]: value } : value;
  const backup = rewriteKeepingBackup(file, original, stringifyData(format, data, original), `v${from}.bak`);
  const lostComments = format !== "json" && /^\s*#/m.test(original);
  return { file, status: "rewritten", from, changes, backup, lostComments };
}

function migrateByHand(file: string, raw: unknown, kind: "code" | "rc"): MigrateOutcome {
  const from = configVersion(raw, file);
  if (from === CONFIG_VERSION || !isPlainObject(raw)) return { file, status: "current" };
  const { value, changes } = migrateLegacy(raw);
  const field = (path: string, item: unknown) =>
    kind === "rc" ? `\`${path}=${JSON.stringify(item)}\`` : `\`${path}: ${JSON.stringify(item)}\``;
  const edits = [
    ...changes.map((change) => edit(change, field)),
    kind === "rc"
      ? `add ${field("version", CONFIG_VERSION)}`
      : `add ${field("version", CONFIG_VERSION)} at the top level`,
  ];
  const replacement =
    kind === "rc" ? rcLines("", value).join("\n") : `export default defineConfig(${JSON.stringify(value, null, 2)});`;
  return { file, status: "edits", kind, from, changes, edits, replacement };
}

/** One hand edit, quoting the old field and value and the new ones exactly, in the file's own syntax. */
function edit(change: ConfigChange, field: (path: string, value: unknown) => string): string {
  const was = field(change.from, change.value);
  if (change.to === undefined) return `remove ${was}: ${change.note}`;
  const now = field(change.to, change.newValue ?? change.value);
  return `replace ${was} with ${now}${change.note ? ` (${change.note})` : ""}`;
}

/** rc9's `a.b=value` lines (values as JSON, which rc9 parses back) for every leaf of `value`. */
function rcLines(prefix: string, value: unknown): string[] {
  if (!isPlainObject(value)) return [`${prefix}=${JSON.stringify(value)}`];
  return Object.entries(value).flatMap(([key, item]) => rcLines(prefix ? `${prefix}.${key}` : key, item));
}

function parse(file: string, format: DataFormat, text: string): unknown {
  try {
    return parseData(format, text);
  } catch (error) {
    throw new GotunnelError("E_CONFIG_LOAD", `Could not read ${file}: ${(error as Error).message}`, {
      hint: "fix its syntax first; `gotunnel config migrate` rewrites only a file it can read",
      cause: error,
    });
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
