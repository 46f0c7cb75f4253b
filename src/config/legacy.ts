/**
 * Config versions. Version 2 is this gotunnel's shape (schema.ts). Version 1 is the shape of the Go gotunnel's
 * `config.yaml`, which lived where our user file lives (`~/.config/gotunnel/config.yaml`): snake_case fields under
 * `service`, `proxy`, `tunnels`, `observability.{logging,tracing,metrics,sentry}`, `security`, `network` and
 * `development`. No field of this gotunnel's own schema has been renamed or moved since it was written (its git
 * history only adds fields), so the Go shape is the one older shape a user can have.
 *
 * A file without `version` is read as version 1 when it has any field only the Go shape has (the two share no field
 * name that means different things), else as the current shape. Reading a version 1 file converts it here, before
 * validation, and the loader warns with the list of changes; `gotunnel config migrate` writes the conversion back.
 */
import { GotunnelError } from "../core/errors.ts";
import { RULES, type Rule, sectionNote } from "./legacy-rules.ts";

export const CONFIG_VERSION = 2;
export const LEGACY_VERSION = 1;

/** One change a migration makes: a field moved (`to`), or dropped with the reason (`note`). */
export interface ConfigChange {
  from: string;
  value: unknown;
  to?: string;
  /** The value written at `to`, when it differs from `value` ("60s" → 60). */
  newValue?: unknown;
  note?: string;
}

export interface Migration {
  /** The config in the current shape, `version` included. */
  value: Record<string, unknown>;
  changes: ConfigChange[];
}

/** Top-level fields only the Go shape has. */
const LEGACY_SECTIONS = ["service", "tunnels", "security", "network", "development"];
/** Fields under `proxy` and `observability` that only the Go shape has. */
const LEGACY_NESTED: Record<string, string[]> = {
  proxy: ["http_port", "https_port", "mode", "auto_install"],
  observability: ["logging", "tracing", "metrics", "sentry"],
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The version a raw layer is in: its `version`, else guessed from its fields. Throws for a version from the future. */
export function configVersion(raw: unknown, source: string): number {
  if (!isPlainObject(raw)) return CONFIG_VERSION;
  const { version } = raw;
  if (version === undefined) return looksLegacy(raw) ? LEGACY_VERSION : CONFIG_VERSION;
  if (version === LEGACY_VERSION || version === CONFIG_VERSION) return version;
  throw new GotunnelError(
    "E_CONFIG_INVALID",
    `${source}: version: this gotunnel reads config versions ${LEGACY_VERSION} and ${CONFIG_VERSION} (found ${JSON.stringify(version)})`,
    {
      hint:
        typeof version === "number" && version > CONFIG_VERSION
          ? "the file was written for a newer gotunnel: upgrade gotunnel, or remove `version`"
          : `set \`version: ${CONFIG_VERSION}\`, or remove it`,
    },
  );
}

function looksLegacy(raw: Record<string, unknown>): boolean {
  if (LEGACY_SECTIONS.some((key) => raw[key] !== undefined)) return true;
  return Object.entries(LEGACY_NESTED).some(([section, keys]) => {
    const value = raw[section];
    return isPlainObject(value) && keys.some((key) => value[key] !== undefined);
  });
}

/** Converts a version 1 layer to the current shape; fields the Go shape does not have pass through unchanged. */
export function migrateLegacy(raw: Record<string, unknown>): Migration {
  const changes: ConfigChange[] = [];
  const value: Record<string, unknown> = {};
  const legacy = new Map<string, unknown>();
  for (const [key, item] of Object.entries(raw)) {
    if (key === "version") continue;
    if (LEGACY_SECTIONS.includes(key)) flatten(key, item, legacy);
    else if (key in LEGACY_NESTED && isPlainObject(item)) {
      const kept: Record<string, unknown> = {};
      for (const [field, nested] of Object.entries(item)) {
        if (LEGACY_NESTED[key]?.includes(field)) flatten(`${key}.${field}`, nested, legacy);
        else kept[field] = nested;
      }
      if (Object.keys(kept).length > 0) value[key] = kept;
    } else value[key] = item;
  }
  for (const [from, item] of legacy) changes.push(apply(from, item, value, legacy));
  return { value: { version: CONFIG_VERSION, ...value }, changes };
}

/** `a.b.c → value` for every leaf; arrays are leaves (only `tracing.exporters` has one, read whole by its rule). */
function flatten(prefix: string, value: unknown, into: Map<string, unknown>): void {
  if (!isPlainObject(value)) {
    into.set(prefix, value);
    return;
  }
  for (const [key, item] of Object.entries(value)) flatten(`${prefix}.${key}`, item, into);
}

function apply(
  from: string,
  value: unknown,
  target: Record<string, unknown>,
  legacy: ReadonlyMap<string, unknown>,
): ConfigChange {
  const rule: Rule | undefined = RULES[from];
  const outcome = rule ? rule(value, legacy, target) : { note: sectionNote(from) };
  if (!("to" in outcome) || outcome.to === undefined) return { from, value, note: outcome.note };
  if (getPath(target, outcome.to) !== undefined) {
    return { from, value, note: `${outcome.to} is already set in this file, which wins` };
  }
  setPath(target, outcome.to, outcome.value);
  return {
    from,
    value,
    to: outcome.to,
    ...(outcome.value === value ? {} : { newValue: outcome.value }),
    ...(outcome.note ? { note: outcome.note } : {}),
  };
}

function getPath(target: Record<string, unknown>, path: string): unknown {
  let node: unknown = target;
  for (const key of path.split(".")) node = isPlainObject(node) ? node[key] : undefined;
  return node;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) {
    if (!isPlainObject(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1] as string] = value;
}

/** The one-line summary of a migration, for the loader's warning and `config migrate`. */
export function describeChange(change: ConfigChange): string {
  const shown = JSON.stringify(change.value);
  if (change.to === undefined) return `${change.from} (${shown}) is dropped: ${change.note}`;
  const written = change.newValue === undefined ? "" : ` = ${JSON.stringify(change.newValue)}`;
  return `${change.from} is now ${change.to}${written}${change.note ? ` (${change.note})` : ""}`;
}

/** What the loader prints when it reads a version 1 file. */
export function legacyWarning(file: string, changes: readonly ConfigChange[]): string {
  const lines = changes.map((change) => `  ${describeChange(change)}`).join("\n");
  return (
    `${file} is in the Go gotunnel's config shape (version ${LEGACY_VERSION}); it is read as version ${CONFIG_VERSION}:\n${lines}\n` +
    `  Run \`gotunnel config migrate ${file}\` to rewrite it (the original is kept as a backup).`
  );
}
