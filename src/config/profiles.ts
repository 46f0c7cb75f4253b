/**
 * Named profiles inside one config file: `profiles: { demo: { routes: … } }`, chosen with `--profile demo` or
 * GOTUNNEL_PROFILE. The chosen profile is merged over the rest of its file before the file is validated, the way c12
 * merges its layers (defu, https://github.com/unjs/defu): objects merge key by key, the profile's value wins, and a
 * null or undefined in the profile keeps the base's. One difference: an array in the profile replaces the base's
 * instead of being appended to it, because a route's argv `command` or `rewriteOrigin` list concatenated with the
 * base's would be a different command. A profile adds and changes; it cannot remove a route.
 */
import * as v from "valibot";
import { GotunnelError } from "../core/errors.ts";
import { closest } from "../core/suggest.ts";

/** GOTUNNEL_PROFILE: the profile to use when no `--profile` is given. */
export const PROFILE_ENV = "GOTUNNEL_PROFILE";

/** Names a user types after `--profile`: no spaces or shell characters, no leading dash (it would read as a flag). */
const PROFILE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const NAME_EXPECTS = "expected a profile name of letters, digits, `-`, `_` and `.` (e.g. demo, ci, staging-db)";

/** The top-level fields a profile may set; anything deeper is checked once it is merged (the file's own schema). */
export const PROFILE_FIELDS = ["routes", "proxy", "log", "observability", "lan", "notify", "discovery"] as const;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const profileBody = v.pipe(
  v.custom<Record<string, unknown>>(isPlainObject, `expected an object with any of ${PROFILE_FIELDS.join(", ")}`),
  v.object(Object.fromEntries(PROFILE_FIELDS.map((field) => [field, v.optional(v.unknown())]))),
);

export const profilesSchema = v.pipe(
  v.custom<Record<string, unknown>>(isPlainObject, "expected an object of profile names, e.g. { demo: { routes: … } }"),
  v.record(v.pipe(v.string(), v.regex(PROFILE_NAME_RE, NAME_EXPECTS)), profileBody),
  v.description(
    "Named variants of this file, chosen with `--profile NAME` or GOTUNNEL_PROFILE: each is merged over the rest of the file.",
  ),
);

/** Where the chosen profile's name came from, for messages. */
export interface ProfileChoice {
  name: string;
  origin: "--profile" | typeof PROFILE_ENV;
}

/** `--profile` wins over GOTUNNEL_PROFILE; an empty value counts as unset (as for every other variable). */
export function chooseProfile(
  flag: string | false | undefined,
  env: Record<string, string | undefined>,
): ProfileChoice | undefined {
  if (flag === false) return undefined;
  if (flag !== undefined && flag !== "") return { name: flag, origin: "--profile" };
  const fromEnv = env[PROFILE_ENV];
  return fromEnv ? { name: fromEnv, origin: PROFILE_ENV } : undefined;
}

/** The profile names a raw layer defines (none when `profiles` is absent or not an object). */
export function profileNames(raw: unknown): string[] {
  return isPlainObject(raw) && isPlainObject(raw.profiles) ? Object.keys(raw.profiles) : [];
}

/** The layer with profile `name` merged over it, or the layer as it is when it has no such profile. */
export function applyProfile(raw: unknown, name: string): unknown {
  if (!isPlainObject(raw) || !isPlainObject(raw.profiles)) return raw;
  const profile = raw.profiles[name];
  if (!isPlainObject(profile)) return raw;
  const { profiles, ...base } = raw;
  return { ...mergeLayers(profile, base), profiles };
}

/** c12's merge (defu) with the profile on top, except that arrays are replaced (see the module comment). */
export function mergeLayers(high: Record<string, unknown>, low: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...low };
  for (const [key, value] of Object.entries(high)) {
    if (value === null || value === undefined) continue;
    const below = merged[key];
    merged[key] = isPlainObject(value) && isPlainObject(below) ? mergeLayers(value, below) : value;
  }
  return merged;
}

/** A chosen profile that no config file defines: the names there are, and the closest one. */
export function unknownProfile(choice: ProfileChoice, defined: Map<string, string[]>): GotunnelError {
  const all = [...new Set([...defined.values()].flat())].sort();
  const where = [...defined.entries()].filter(([, names]) => names.length > 0).map(([file]) => file);
  const known =
    all.length === 0
      ? "no config file here defines profiles"
      : `the profiles are ${all.join(", ")} (in ${where.join(", ")})`;
  const guess = closest(choice.name, all);
  const hint = guess
    ? `did you mean \`--profile ${guess}\`?`
    : all.length === 0
      ? `add one to the config file: profiles: { ${JSON.stringify(choice.name)}: { routes: { … } } }`
      : `use one of ${all.join(", ")}, or add ${JSON.stringify(choice.name)} under \`profiles\``;
  return new GotunnelError(
    "E_USAGE",
    `no profile named ${JSON.stringify(choice.name)} (from ${choice.origin}): ${known}`,
    {
      hint,
      details: { profile: choice.name, profiles: all },
    },
  );
}
