/** Flags shared by every command, and their translation into config overrides. */
import type { ArgsDef } from "citty";
import { type ConfigOverrides, type LoadedConfig, loadConfig } from "../config/load.ts";
import { ENVIRONMENTS, type Environment } from "../config/schema.ts";
import { GotunnelError } from "../core/errors.ts";
import { warn } from "./output.ts";

export const globalArgs = {
  "proxy-http-port": {
    type: "string",
    valueHint: "port",
    description: "HTTP listener port (default 80; env GOTUNNEL_PROXY_HTTP_PORT)",
  },
  "proxy-https-port": {
    type: "string",
    valueHint: "port",
    description: "HTTPS listener port (default 443; env GOTUNNEL_PROXY_HTTPS_PORT)",
  },
  debug: { type: "boolean", description: "Verbose logs and stack traces (env DEBUG=1)" },
  "log-format": {
    type: "string",
    valueHint: "text|json",
    description: "Log format (default: the environment's; text in development)",
  },
  environment: {
    type: "string",
    valueHint: "development|staging|production",
    description: "Profile for log format and sample rates (env ENVIRONMENT; default development)",
  },
  profile: {
    type: "string",
    valueHint: "name",
    description: "Merge this named profile of the config file over the rest of it (env GOTUNNEL_PROFILE)",
  },
} as const satisfies ArgsDef;

const { profile: _projectsOnly, ...daemonGlobalArgs } = globalArgs;
/**
 * The global flags of commands that read the config as the daemon does, from the user file only (`service install`,
 * `doctor`): a profile belongs to a project's file, and the daemon never takes one (daemon/spawn.ts).
 */
export const daemonArgs = daemonGlobalArgs;

export const jsonArg = {
  json: { type: "boolean", description: "Machine-readable JSON output" },
} as const satisfies ArgsDef;

export interface GlobalFlags {
  "proxy-http-port"?: string;
  "proxy-https-port"?: string;
  debug?: boolean;
  "log-format"?: string;
  environment?: string;
  profile?: string;
}

/** Parses a port flag strictly: "8443" yes; "84x3", "-1", "8443.5" no. */
export function portFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    throw new GotunnelError(
      "E_USAGE",
      `--${flag} expects a port number from 0 to 65535, got ${JSON.stringify(value)}`,
      {
        hint: `e.g. \`--${flag} 8443\``,
      },
    );
  }
  return Number(value);
}

export function overridesFrom(flags: GlobalFlags & { config?: string }): ConfigOverrides {
  const overrides: ConfigOverrides = {};
  if (flags.config) overrides.configFile = flags.config;
  if (flags.profile !== undefined) overrides.profile = flags.profile;
  const httpPort = portFlag("proxy-http-port", flags["proxy-http-port"]);
  const httpsPort = portFlag("proxy-https-port", flags["proxy-https-port"]);
  if (httpPort !== undefined || httpsPort !== undefined) {
    overrides.proxy = {};
    if (httpPort !== undefined) overrides.proxy.httpPort = httpPort;
    if (httpsPort !== undefined) overrides.proxy.httpsPort = httpsPort;
  }
  const format = flags["log-format"];
  if (format !== undefined && format !== "text" && format !== "json") {
    throw new GotunnelError("E_USAGE", `--log-format expects "text" or "json", got ${JSON.stringify(format)}`, {
      hint: "use `--log-format json` for one JSON object per line",
    });
  }
  if (format || flags.debug) {
    overrides.log = {};
    if (format) overrides.log.format = format;
    if (flags.debug) overrides.log.level = "debug";
  }
  const environment = flags.environment;
  if (environment !== undefined) {
    if (!(ENVIRONMENTS as readonly string[]).includes(environment)) {
      throw new GotunnelError(
        "E_USAGE",
        `--environment expects one of ${ENVIRONMENTS.join(", ")}, got ${JSON.stringify(environment)}`,
        { hint: "e.g. `--environment production` for JSON logs and low sample rates" },
      );
    }
    overrides.observability = { environment: environment as Environment };
  }
  return overrides;
}

/** The config as the daemon reads it: a GOTUNNEL_PROFILE exported for a project is no profile of the user file. */
export function daemonOverrides(flags: Omit<GlobalFlags, "profile">): ConfigOverrides {
  return { ...overridesFrom(flags), profile: false };
}

/** `up` and `run` need at least one route; `alternative` is the command-specific way out. */
export function requireRoutes(loaded: LoadedConfig, alternative: string): void {
  if (loaded.config.routes.length > 0) return;
  throw new GotunnelError("E_CONFIG_INVALID", `no routes to serve in ${loaded.projectDir}`, {
    hint: `create gotunnel.config.json with {"routes": {"myapp.local": 3000}}, or ${alternative}`,
    details: { files: loaded.files },
  });
}

/** Loads the config from the shell's directory and shows what an older-shaped file changed into (config/legacy.ts). */
export async function loadCommandConfig(overrides: ConfigOverrides): Promise<LoadedConfig> {
  const loaded = await loadConfig({ cwd: process.cwd(), overrides });
  for (const warning of loaded.warnings) warn(warning);
  return loaded;
}
