/**
 * Where config files are: the project directory (the nearest directory from cwd up with a config, a package.json or
 * `.git`), the one `gotunnel.config.<ext>` in it, and the user file in the config dir. Nothing here reads a config's
 * content (load.ts does), except to see whether package.json has a "gotunnel" key.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, extname, join, resolve } from "node:path";
import { GotunnelError } from "../core/errors.ts";
import { resolvePaths } from "../platform/paths.ts";
import { CONFIG_FILE_ENV } from "./env.ts";

/** The formats we document and test. c12 knows a few more; discovery is ours so it cannot pick one up silently. */
export const CONFIG_EXTENSIONS = [".ts", ".mts", ".js", ".mjs", ".json", ".yaml", ".yml", ".toml"] as const;
export const PROJECT_CONFIG_BASENAME = "gotunnel.config";
export const USER_CONFIG_BASENAME = "config";
export const RC_FILE = ".gotunnelrc";
const PACKAGE_JSON_KEY = "gotunnel";

/**
 * Whether `path` is a file. One in a directory this user may not search (gotunnel run as another user from inside
 * someone's home, `sudo -u`) is as good as absent: nothing could read it, and a command that needs no project file
 * (`start`, `list`) must still work there. It crashed with EACCES before.
 */
export function isFile(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EPERM") return false;
    throw error;
  }
}

export function explicitConfigFile(
  cwd: string,
  fromFlag: string | undefined,
  fromEnv: string | undefined,
): string | undefined {
  const given = fromFlag || fromEnv;
  if (!given) return undefined;
  const origin = fromFlag ? "--config" : CONFIG_FILE_ENV;
  const file = resolve(cwd, given);
  if (!isFile(file)) {
    throw new GotunnelError("E_CONFIG_LOAD", `Config file ${file} (from ${origin}) does not exist or is not a file.`, {
      hint: `Check the path given to ${origin}, or drop it to use ${PROJECT_CONFIG_BASENAME}.* in the project directory.`,
      details: { file, origin },
    });
  }
  if (!(CONFIG_EXTENSIONS as readonly string[]).includes(extname(file))) {
    throw new GotunnelError("E_CONFIG_LOAD", `Config file ${file} (from ${origin}) has an unsupported format.`, {
      hint: `Use one of: ${CONFIG_EXTENSIONS.join(" ")}.`,
      details: { file, origin },
    });
  }
  return file;
}

/** The one config file named `<base>.<ext>` in `dir`; two of them is an error, not a silent pick. */
export function findConfigFile(dir: string, base: string): string | undefined {
  const found = CONFIG_EXTENSIONS.map((ext) => join(dir, `${base}${ext}`)).filter(isFile);
  if (found.length > 1) {
    const names = found.map((file) => basename(file)).join(", ");
    throw new GotunnelError("E_CONFIG_LOAD", `Found ${found.length} config files in ${dir}: ${names}.`, {
      hint: "gotunnel reads exactly one: merge them into one file and delete the others.",
      details: { files: found },
    });
  }
  return found[0];
}

export function findProjectDir(cwd: string): string {
  for (let dir = cwd; ; dir = dirname(dir)) {
    const hasConfig = CONFIG_EXTENSIONS.some((ext) => isFile(join(dir, `${PROJECT_CONFIG_BASENAME}${ext}`)));
    const isRoot = isFile(join(dir, "package.json")) || existsSync(join(dir, ".git"));
    if (hasConfig || isRoot || isFile(join(dir, RC_FILE))) return dir;
    if (dirname(dir) === dir) return cwd;
  }
}

/**
 * The config files loadConfig would read from `cwd`, highest precedence first (`--config`'s file or the project's,
 * its .gotunnelrc, package.json when it has a "gotunnel" key, then the user file). Nothing is loaded or validated.
 */
export function configFilePaths(options: {
  cwd: string;
  env?: Record<string, string | undefined>;
  configFile?: string;
  userConfigDir?: string;
}): string[] {
  const env = options.env ?? process.env;
  const cwd = resolve(options.cwd);
  const explicit = explicitConfigFile(cwd, options.configFile, env[CONFIG_FILE_ENV]);
  const files: string[] = [];
  if (explicit) files.push(explicit);
  else {
    const dir = findProjectDir(cwd);
    const main = findConfigFile(dir, PROJECT_CONFIG_BASENAME);
    if (main) files.push(main);
    if (isFile(join(dir, RC_FILE))) files.push(join(dir, RC_FILE));
    if (hasPackageJsonConfig(join(dir, "package.json"))) files.push(join(dir, "package.json"));
  }
  const user = findConfigFile(options.userConfigDir ?? resolvePaths({ env }).configDir, USER_CONFIG_BASENAME);
  return user ? [...files, user] : files;
}

/** Whether package.json has a "gotunnel" key; an unreadable one counts (the loader then says what is wrong with it). */
function hasPackageJsonConfig(file: string): boolean {
  if (!isFile(file)) return false;
  try {
    const pkg: unknown = JSON.parse(readFileSync(file, "utf8"));
    return typeof pkg === "object" && pkg !== null && PACKAGE_JSON_KEY in pkg;
  } catch {
    // Not JSON: loading it reports the syntax error with its file.
    return true;
  }
}
