/**
 * Environment variables as a config layer. They produce a raw partial config that goes through the same schema
 * as a file, so a bad value gets the same "expected …" message, labelled with the variable's name.
 */

/** Each supported variable and the config field it sets. Names match the Go tool where it had one. */
export const ENV_FIELDS = {
  GOTUNNEL_PROXY_HTTP_PORT: ["proxy", "httpPort"],
  GOTUNNEL_PROXY_HTTPS_PORT: ["proxy", "httpsPort"],
  GOTUNNEL_PROXY_HOST: ["proxy", "host"],
  GOTUNNEL_ADMIN_PORT: ["proxy", "adminPort"],
  GOTUNNEL_KEEPALIVE_TIMEOUT: ["proxy", "keepAliveTimeout"],
  GOTUNNEL_CLIENT_BODY_TIMEOUT: ["proxy", "clientBodyTimeout"],
  GOTUNNEL_HTTP2: ["proxy", "http2"],
  GOTUNNEL_DOCKER: ["discovery", "docker"],
  GOTUNNEL_LOG_FORMAT: ["log", "format"],
  // Later names win: GOTUNNEL_ENVIRONMENT is ours alone, ENVIRONMENT may be shared with the app.
  ENVIRONMENT: ["observability", "environment"],
  GOTUNNEL_ENVIRONMENT: ["observability", "environment"],
  SENTRY_DSN: ["observability", "sentryDsn"],
  GOTUNNEL_TRACES_PER_SECOND: ["observability", "tracesPerSecond"],
} as const;

/**
 * `GOTUNNEL_LAN=0` keeps every route on loopback (`=1`: share every route, as `lan: true` does). It sets the global
 * `lan`, a top-level field, so it is not in ENV_FIELDS.
 */
export const LAN_ENV = "GOTUNNEL_LAN";
/** `proxy.http2`; also how a command hands its resolved choice to the daemon it starts (daemon/spawn.ts). */
export const HTTP2_ENV = "GOTUNNEL_HTTP2";
/** `discovery.docker`; also how a command hands its resolved choice to the daemon it starts (daemon/spawn.ts). */
export const DOCKER_ENV = "GOTUNNEL_DOCKER";
/** Path of a config file to load instead of discovering one (same as `--config`). */
export const CONFIG_FILE_ENV = "GOTUNNEL_CONFIG";
/** `DEBUG=1` turns on debug logging, as in the Go tool. */
export const DEBUG_ENV = "DEBUG";

type EnvName = keyof typeof ENV_FIELDS;
/** Fields whose digit-string values become numbers (anything else stays a string for the schema to reject). */
const INTEGER_FIELDS = new Set<string>(["httpPort", "httpsPort", "adminPort", "keepAliveTimeout", "clientBodyTimeout"]);
/** Fields whose 1/true/yes/on and 0/false/no/off values become booleans (envBoolean). */
const BOOLEAN_FIELDS = new Set<string>(["http2", "docker"]);
const TRUTHY = new Set(["1", "true", "yes", "on"]);
const FALSY = new Set(["0", "false", "no", "off"]);
const GOTUNNEL_DEBUG_PATTERNS = new Set(["*", "gotunnel", "gotunnel*", "gotunnel:*"]);

export interface EnvLayer {
  /** A partial config, e.g. `{ proxy: { httpPort: 8080 } }`; empty when no variable is set. */
  raw: Record<string, unknown>;
  /** Names the variable behind a field path, so errors say `GOTUNNEL_PROXY_HTTP_PORT` and not `proxy.httpPort`. */
  label: (path: readonly string[]) => string | undefined;
}

/**
 * An empty variable counts as unset (`GOTUNNEL_PROXY_HTTP_PORT= gotunnel up` is how shells unset for one
 * command). Digit strings become numbers; anything else stays a string, so the schema rejects it with the
 * value quoted instead of this module guessing.
 */
export function envLayer(env: Record<string, string | undefined>): EnvLayer {
  const raw: Record<string, Record<string, unknown>> = {};
  const labels = new Map<string, string>();
  for (const name of Object.keys(ENV_FIELDS) as EnvName[]) {
    const value = env[name];
    if (value === undefined || value === "") continue;
    const [section, field] = ENV_FIELDS[name];
    const converted = INTEGER_FIELDS.has(field) && /^[0-9]+$/.test(value) ? Number(value) : normalize(field, value);
    raw[section] = { ...raw[section], [field]: converted };
    labels.set(`${section}.${field}`, `environment variable ${name}`);
  }
  if (isDebugEnabled(env[DEBUG_ENV])) {
    raw.log = { ...raw.log, level: "debug" };
    labels.set("log.level", `environment variable ${DEBUG_ENV}`);
  }
  const lan = env[LAN_ENV];
  if (lan === undefined || lan === "") return { raw, label: (path) => labels.get(path.join(".")) };
  labels.set("lan", `environment variable ${LAN_ENV}`);
  return { raw: { ...raw, lan: envBoolean(lan) }, label: (path) => labels.get(path.join(".")) };
}

/** 1/true/yes/on and 0/false/no/off, any case; anything else stays a string for the schema to reject, quoted. */
function envBoolean(value: string): boolean | string {
  const normalized = value.trim().toLowerCase();
  if (TRUTHY.has(normalized)) return true;
  return FALSY.has(normalized) ? false : value;
}

/**
 * `DEBUG` is shared with the `debug` npm package (`DEBUG=express:*`), so a value we do not recognise means
 * "not for us" rather than an error: only 1/true/yes/on or a pattern naming gotunnel (or `*`) turns it on.
 */
export function isDebugEnabled(value: string | undefined): boolean {
  if (value === undefined) return false;
  const normalized = value.trim().toLowerCase();
  if (TRUTHY.has(normalized)) return true;
  return normalized.split(/[\s,]+/).some((pattern) => GOTUNNEL_DEBUG_PATTERNS.has(pattern));
}

/** The short names deploy tooling often puts in ENVIRONMENT; anything else goes to the schema as written. */
const ENVIRONMENT_ALIASES: Record<string, string> = {
  dev: "development",
  local: "development",
  stage: "staging",
  prod: "production",
};

function normalize(field: string, value: string): string | boolean | number {
  if (BOOLEAN_FIELDS.has(field)) return envBoolean(value);
  if (field === "tracesPerSecond") {
    const trimmed = value.trim();
    return /^[0-9]*\.?[0-9]+$/.test(trimmed) ? Number(trimmed) : trimmed.toLowerCase();
  }
  if (field === "adminPort" && ["off", "false", "no"].includes(value.trim().toLowerCase())) return false;
  if (field !== "environment") return value;
  const lower = value.trim().toLowerCase();
  return ENVIRONMENT_ALIASES[lower] ?? lower;
}
