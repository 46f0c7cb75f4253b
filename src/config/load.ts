/**
 * Loading is not validating. This module finds the config sources and has c12 read each file (c12 is imported
 * here and nowhere else, lazily: it costs ~15 ms). Every source is then validated on its own by the schema, so
 * each problem names its file, variable or flag; only then are the layers merged:
 * flags > env (GOTUNNEL_*) > project file > user file (`<configDir>/config.*`) > schema defaults.
 * proxy/log merge field by field; routes merge by normalized name, a higher layer's route replacing a lower one's.
 *
 * Project sources, highest first (c12's order): `gotunnel.config.<ext>`, `.gotunnelrc`, the `"gotunnel"` key of
 * package.json. The project dir is the nearest directory from cwd up that holds one of them, a package.json or
 * `.git`. `--config <file>` / GOTUNNEL_CONFIG replaces all three with exactly that file (the user file stays).
 *
 * `.gotunnelrc` is rc9's format (read by c12): one `key=value` per line; a dot in a key nests; a value is parsed
 * as JSON when it looks like JSON; rc9 silently skips lines that are not `key=value`. So a route name cannot
 * contain a dot there: `routes.myapp=3000` works (myapp → myapp.local), `routes.api.myapp.local=3000` does not.
 */
import { readFileSync } from "node:fs";
import { basename, dirname, extname, join, resolve } from "node:path";
import type { LoadConfigOptions } from "c12";
import { GotunnelError } from "../core/errors.ts";
import { resolvePaths } from "../platform/paths.ts";
import { isStackOverflow, MAX_CONFIG_DEPTH, nestsDeeperThan, tooDeepError } from "./depth.ts";
import {
  explicitConfigFile,
  findConfigFile,
  findProjectDir,
  isFile,
  PROJECT_CONFIG_BASENAME,
  RC_FILE,
  USER_CONFIG_BASENAME,
} from "./discover.ts";
import { CONFIG_FILE_ENV, envLayer } from "./env.ts";
import { formatPath } from "./field-path.ts";
import { uniqueWebhooks } from "./notify.ts";
import { prepareLayers } from "./prepare.ts";
import { preview } from "./preview.ts";
import { chooseProfile } from "./profiles.ts";
import { ConfigModuleError, configTimeoutMs, type ErrorPart, errorParts, importConfigModule } from "./sandbox.ts";
import {
  type ConfigIssue,
  configDefaults,
  type Environment,
  isPlainObject,
  type LayerValue,
  PROFILES,
  type ResolvedConfig,
  type ResolvedRoute,
  validateLayer,
} from "./schema.ts";

export {
  CONFIG_EXTENSIONS,
  configFilePaths,
  PROJECT_CONFIG_BASENAME,
  RC_FILE,
  USER_CONFIG_BASENAME,
} from "./discover.ts";
export type { ResolvedConfig, ResolvedRoute } from "./schema.ts";

export interface ConfigOverrides {
  /** `--config <file>`: load exactly this file instead of discovering project config. */
  configFile?: string;
  routes?: Record<string, unknown>;
  proxy?: Partial<ResolvedConfig["proxy"]>;
  log?: Partial<ResolvedConfig["log"]>;
  observability?: Partial<ResolvedConfig["observability"]>;
  discovery?: Partial<ResolvedConfig["discovery"]>;
  /**
   * `--profile NAME`: merge that profile of each config file over the file (config/profiles.ts). Unset: the
   * GOTUNNEL_PROFILE variable's; false: none, whatever it says (`down` only needs the project's directory).
   */
  profile?: string | false;
}

export interface LoadedConfig {
  config: ResolvedConfig;
  /** Every file that contributed, highest precedence first. */
  files: string[];
  projectDir: string;
  /** The profile applied (`--profile` or GOTUNNEL_PROFILE), if any. */
  profile?: string;
  /** Files read in an older shape, each with what changed (config/legacy.ts). The command prints them. */
  warnings: string[];
}

export interface LoadConfigInput {
  cwd: string;
  env?: Record<string, string | undefined>;
  overrides?: ConfigOverrides;
  /** Defaults to `resolvePaths({ env }).configDir` (GOTUNNEL_HOME aware). */
  userConfigDir?: string;
}

const PACKAGE_JSON_KEY = "gotunnel";
const FLAGS_SOURCE = "command-line flags";

/** One config source. `label` names a field itself (an env var); `pathPrefix` places it (package.json's key). */
interface Layer {
  source: string;
  raw: unknown;
  file?: string;
  pathPrefix?: string[];
  label?: (path: readonly string[]) => string | undefined;
}

export async function loadConfig(options: LoadConfigInput): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const overrides = options.overrides ?? {};
  const cwd = resolve(options.cwd);
  const explicit = explicitConfigFile(cwd, overrides.configFile, env[CONFIG_FILE_ENV]);
  const projectDir = explicit ? dirname(explicit) : findProjectDir(cwd);
  const timeoutMs = configTimeoutMs(env);
  const read = explicit ? [await fileLayer(explicit, timeoutMs)] : await projectLayers(projectDir, timeoutMs);
  const userFile = findConfigFile(options.userConfigDir ?? resolvePaths({ env }).configDir, USER_CONFIG_BASENAME);
  if (userFile) read.push(await fileLayer(userFile, timeoutMs));
  const choice = chooseProfile(overrides.profile, env);
  const { layers: fileLayers, warnings } = prepareLayers(read, choice);
  const fromEnv = envLayer(env);
  const { routes, proxy, log, observability, discovery } = overrides;
  const layers: Layer[] = [
    { source: FLAGS_SOURCE, raw: withoutUndefined({ routes, proxy, log, observability, discovery }) },
    { source: "environment", raw: fromEnv.raw, label: fromEnv.label },
    ...fileLayers,
  ];
  const files = fileLayers.flatMap((layer) => (layer.file ? [layer.file] : []));
  const config = resolveLayers(layers, cwd);
  return { config, files, projectDir, warnings, ...(choice ? { profile: choice.name } : {}) };
}

/** One config file's raw content as the loader reads it (a .ts runs in its worker), before any validation. */
export async function readConfigFile(file: string, env: Record<string, string | undefined> = process.env) {
  const timeoutMs = configTimeoutMs(env);
  if (basename(file) === RC_FILE) return loadWithC12(file, { cwd: dirname(file), rcFile: RC_FILE }, timeoutMs);
  if (basename(file) === "package.json") return packageJsonLayer(file)?.raw;
  return (await fileLayer(file, timeoutMs)).raw;
}

/** Validates one plain object (a config file's content) and applies the defaults. */
export function resolveConfig(input: unknown, source: string): ResolvedConfig {
  return resolveLayers([{ source, raw: input }]);
}

/**
 * Layers come highest precedence first. Throws one E_CONFIG_INVALID listing every issue of every layer. A route's
 * relative `cwd` is relative to its file's directory; from flags or the environment, to `cwd`.
 */
function resolveLayers(layers: Layer[], cwd = process.cwd()): ResolvedConfig {
  const lines: string[] = [];
  const values: LayerValue[] = [];
  for (const layer of layers) {
    const { value, issues } = validateLayer(layer.raw, layer.file ? dirname(layer.file) : cwd);
    // Sorted by field path within a source, so problems with one field sit together.
    lines.push(...issues.map((issue) => formatIssue(layer, issue)).sort());
    if (value) values.push(value);
  }
  if (lines.length > 0) throw invalidConfig(lines, layers);
  // Highest layer first: the first definition of a name wins, and routes list in precedence, then file, order.
  const routes = new Map<string, ResolvedRoute>();
  for (const route of values.flatMap((value) => value.routes))
    if (!routes.has(route.name)) routes.set(route.name, route);
  const { proxy, observability } = configDefaults();
  // Left unset when no layer sets it, so callers can tell an explicit `lan: true` from the default.
  const lan = values.find((value) => value.lan !== undefined)?.lan;
  const merged = Object.assign(observability, ...values.map((value) => value.observability).reverse());
  // The profile fills what no layer set: `--environment production` gives JSON logs unless `log.format` says text.
  const log = { ...PROFILES[merged.environment as Environment].log };
  return {
    routes: [...routes.values()],
    proxy: Object.assign(proxy, ...values.map((value) => value.proxy).reverse()),
    log: Object.assign(log, ...values.map((value) => value.log).reverse()),
    observability: merged,
    ...(lan === undefined ? {} : { lan }),
    // Every layer's webhooks, as c12 appends arrays across layers; a receiver listed twice is called once.
    notify: uniqueWebhooks(values.flatMap((value) => value.notify)),
    discovery: Object.assign({}, ...values.map((value) => value.discovery).reverse()),
  };
}

function withoutUndefined(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}

function formatIssue(layer: Layer, issue: ConfigIssue): string {
  const where =
    layer.label?.(issue.path) ?? `${layer.source}: ${formatPath([...(layer.pathPrefix ?? []), ...issue.path])}`;
  const found = issue.found ? ` (found ${preview(issue.found.value)})` : "";
  return `${where}: ${issue.message}${found}`;
}

const EXAMPLE_CONFIG =
  'export default defineConfig({ routes: { "myapp.local": 3000, "api.myapp.local": { target: "http://127.0.0.1:8080" } } })';

function invalidConfig(lines: string[], layers: Layer[]): GotunnelError {
  const count = lines.length === 1 ? "1 problem" : `${lines.length} problems`;
  const rcNote = layers.some((layer) => layer.file?.endsWith(RC_FILE))
    ? ` In ${RC_FILE} a dot in a key nests, so use dotless route names there (routes.myapp=3000 means myapp.local).`
    : "";
  return new GotunnelError(
    "E_CONFIG_INVALID",
    `Invalid gotunnel config (${count}):\n${lines.map((l) => `  ${l}`).join("\n")}`,
    {
      hint: `Fix each field listed above. A valid config looks like: ${EXAMPLE_CONFIG}.${rcNote}`,
      details: { issues: lines },
    },
  );
}

async function projectLayers(dir: string, timeoutMs: number): Promise<Layer[]> {
  const layers: Layer[] = [];
  const main = findConfigFile(dir, PROJECT_CONFIG_BASENAME);
  if (main) layers.push(await fileLayer(main, timeoutMs));
  const rc = join(dir, RC_FILE);
  if (isFile(rc)) {
    const raw = await loadWithC12(rc, { cwd: dir, rcFile: RC_FILE }, timeoutMs);
    layers.push({ source: rc, file: rc, raw: shallowEnough(rc, raw) });
  }
  const pkg = packageJsonLayer(join(dir, "package.json"));
  if (pkg) layers.push(pkg);
  return layers;
}

async function fileLayer(file: string, timeoutMs: number): Promise<Layer> {
  // An empty file means "no settings" in every format; confbox returns undefined for it, which c12 then trips on.
  const blank =
    readFileSync(file, "utf8")
      .replace(/^\s*#.*$/gm, "")
      .trim() === "";
  const options = { cwd: dirname(file), configFile: file, rcFile: false } as const;
  const raw = blank ? {} : await loadWithC12(file, options, timeoutMs);
  return { source: file, file, raw: shallowEnough(file, raw) };
}

/** Every loaded value is measured before anything walks it recursively (depth.ts). */
function shallowEnough(file: string, raw: unknown): unknown {
  if (nestsDeeperThan(raw, MAX_CONFIG_DEPTH)) throw tooDeepError(file);
  return raw;
}

function packageJsonLayer(file: string): Layer | undefined {
  if (!isFile(file)) return undefined;
  let pkg: unknown;
  try {
    pkg = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw loadError(file, error);
  }
  if (!isPlainObject(pkg) || pkg[PACKAGE_JSON_KEY] === undefined) return undefined;
  const raw = shallowEnough(file, pkg[PACKAGE_JSON_KEY]);
  return { source: file, file, raw, pathPrefix: [PACKAGE_JSON_KEY] };
}

/** Reads one file (or, with `rcFile`, only the rc file) through c12 and returns that layer's raw config. */
async function loadWithC12(file: string, options: LoadConfigOptions, timeoutMs: number): Promise<unknown> {
  try {
    const { loadConfig: c12Load } = await import("c12");
    const result = await c12Load({
      name: "gotunnel",
      ...options,
      // c12 features we do not offer: remote `extends` (giget would download), `$env` sections, dotenv,
      // package.json (packageJsonLayer reads it, with its own error), and the ~/.gotunnelrc global rc.
      extend: false,
      giget: false,
      envName: false,
      dotenv: false,
      packageJson: false,
      globalRc: false,
      jiti: bunImporter(timeoutMs) as unknown as LoadConfigOptions["jiti"],
      // With only an rc file wanted, tell c12 there is no main file instead of letting it search for one.
      ...(options.rcFile ? { resolve: () => ({ config: {}, cwd: dirname(file) }) } : {}),
    });
    const wanted = options.rcFile || file;
    return result.layers?.find((layer) => layer.configFile === wanted)?.config ?? {};
  } catch (error) {
    throw loadError(file, error);
  }
}

/**
 * What c12 calls instead of jiti: Bun's own `import()` in a Worker with a time limit (sandbox.ts), so TS configs
 * are compiled by Bun (no jiti transpiler at runtime, inside the compiled binary too) and cannot hang or exit
 * gotunnel. c12 only calls `.import(path, { default: true })`.
 */
function bunImporter(timeoutMs: number) {
  return {
    async import(id: string): Promise<unknown> {
      if (extname(id) === ".json") return JSON.parse(readFileSync(id, "utf8"));
      // Bun 1.4.5 reads "?" in a specifier as a query, even inside a file:// URL, so such a path cannot load.
      if (id.includes("?")) {
        throw new GotunnelError("E_CONFIG_LOAD", `Cannot import ${id}: Bun cannot import a path containing "?".`, {
          hint: "Rename the directory, or use a JSON, YAML or TOML config, which are read without import().",
        });
      }
      // A fresh Worker per load also means a fresh module cache: a reload (daemon, tests) sees the file as it is now.
      const value = await importConfigModule(id, timeoutMs);
      if (value === undefined || value === null) {
        throw new GotunnelError("E_CONFIG_LOAD", `${id} has no default export.`, {
          hint: `Write: import { defineConfig } from "gotunnel"; ${EXAMPLE_CONFIG}`,
        });
      }
      return value;
    },
  };
}

const LOAD_HINTS: Record<string, string> = {
  ".json": "Fix the JSON syntax. JSON allows no comments or trailing commas; gotunnel.config.yaml or .ts do.",
  ".yaml": "Fix the YAML syntax at the line shown.",
  ".yml": "Fix the YAML syntax at the line shown.",
  ".toml": "Fix the TOML syntax at the line shown.",
};

function loadError(file: string, error: unknown): GotunnelError {
  if (error instanceof GotunnelError) return error;
  // A parser (YAML, TOML) that recursed into a value nested thousands deep.
  if (isStackOverflow(error)) return tooDeepError(file);
  const isPackageJson = basename(file) === "package.json";
  const hint = isPackageJson
    ? 'Fix the JSON syntax of package.json (gotunnel reads its "gotunnel" key).'
    : (LOAD_HINTS[extname(file)] ?? `Fix the error above; the file must ${EXAMPLE_CONFIG}.`);
  return new GotunnelError("E_CONFIG_LOAD", `Could not load ${file}:\n  ${describeError(error)}`, {
    hint,
    details: { file },
    cause: error,
  });
}

function describeError(error: unknown): string {
  const parts: ErrorPart[] = error instanceof ConfigModuleError ? error.parts : errorParts(error);
  return parts
    .map(({ message, line, column }) => `${line === undefined ? "" : `line ${line}, column ${column}: `}${message}`)
    .join("\n  ");
}
