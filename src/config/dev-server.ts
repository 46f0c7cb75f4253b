/**
 * The route fields for a dev server gotunnel starts itself (`command`, `cwd`, `env`, `port`, `waitTimeout`), and
 * `rewriteOrigin`, which any route may set. schema.ts puts them in the route object; what they mean at run time is
 * src/devserver's business. Messages are phrased as what would be valid, like the rest of the schema.
 */
import { isAbsolute, resolve } from "node:path";
import * as v from "valibot";
import { parseDurationMs } from "../core/duration.ts";
import { PORT_MAX, UPSTREAM_PORT_MIN } from "./domain.ts";

/** How long `up` waits for a started dev server to answer on its port, unless the route or `--wait-timeout` says. */
export const DEFAULT_WAIT_TIMEOUT_MS = 60_000;

/** A dev server as the loader resolves it: `cwd` absolute, defaults applied. */
export interface DevServerConfig {
  /** A shell command line (run by `sh -c` unless it is plain words) or an argv array (run as is). */
  command: string | string[];
  /** Absolute; a relative `cwd` is relative to the config file's directory. */
  cwd: string;
  /** Added to gotunnel's own environment (and to what gotunnel sets: PORT, the framework's allowed-host variables). */
  env: Record<string, string>;
  /** The port the dev server listens on; unset: `up` picks a free one and tells the server (src/devserver). */
  port?: number;
  waitTimeoutMs?: number;
}

const COMMAND_EXPECTS = 'expected a command line such as "npm run dev", or an argv array such as ["vite", "--open"]';

/** Neither form may be empty: an empty command would run nothing and then time out waiting for its port. */
export const commandSchema = v.pipe(
  v.union(
    [
      v.pipe(
        v.string(),
        v.check((text) => text.trim() !== "", COMMAND_EXPECTS),
      ),
      v.pipe(
        v.array(v.string(COMMAND_EXPECTS)),
        v.check((argv) => argv.length > 0 && argv[0] !== "", COMMAND_EXPECTS),
      ),
    ],
    COMMAND_EXPECTS,
  ),
  v.description(
    "Starts this route's dev server. `up` runs it in its own process group, gives it a free port unless `port` is set, and stops it on exit.",
  ),
);

const ENV_EXPECTS = 'expected an object of variable names to string values, e.g. { "NODE_OPTIONS": "--inspect" }';

export const envSchema = v.pipe(
  v.custom<Record<string, string>>(
    (value) => typeof value === "object" && value !== null && !Array.isArray(value),
    ENV_EXPECTS,
  ),
  v.record(
    v.pipe(v.string(), v.regex(/^[^=\0]+$/, "expected a variable name without = or NUL")),
    v.pipe(v.string("expected a string value (quote numbers)"), v.regex(/^[^\0]*$/, "expected no NUL character")),
  ),
  v.description("Environment variables for the command, on top of gotunnel's own environment."),
);

const PORT_EXPECTS = `expected an integer port from ${UPSTREAM_PORT_MIN} to ${PORT_MAX}`;

export const devPortSchema = v.pipe(
  v.number(PORT_EXPECTS),
  v.integer(PORT_EXPECTS),
  v.minValue(UPSTREAM_PORT_MIN, PORT_EXPECTS),
  v.maxValue(PORT_MAX, PORT_EXPECTS),
  v.description("The port the command's dev server listens on. Unset: gotunnel picks a free one and passes it on."),
);

export const cwdSchema = v.pipe(
  v.string("expected a directory path"),
  v.check((text) => text !== "", "expected a directory path"),
  v.description("Directory the command runs in, relative to the config file. Default: the config file's directory."),
);

const WAIT_EXPECTS = 'expected a duration such as "90s", "2m" or "1500ms", or a number of seconds';

export const waitTimeoutSchema = v.pipe(
  v.union([v.string(), v.number()], WAIT_EXPECTS),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const value = dataset.value;
    const ms = typeof value === "number" ? value * 1000 : parseDurationMs(value);
    if (ms !== undefined && Number.isFinite(ms) && ms > 0) return ms;
    addIssue({ message: WAIT_EXPECTS });
    return NEVER;
  }),
  v.description("How long `up` waits for the dev server to answer on its port. Default 60s (or --wait-timeout)."),
);

const REWRITE_EXPECTS = 'expected an array of path prefixes, e.g. ["/_next/", "/__nextjs"]';

export const rewriteOriginSchema = v.pipe(
  v.array(v.pipe(v.string(REWRITE_EXPECTS), v.startsWith("/", REWRITE_EXPECTS)), REWRITE_EXPECTS),
  v.description(
    "Path prefixes where a same-origin request (its Origin is this route's own URL) reaches the upstream with the upstream's own origin as Origin: for dev servers that refuse other origins on their development endpoints (Next.js: /_next/, /__nextjs). Set for you when gotunnel starts Next.js; [] turns that off.",
  ),
);

/** The raw fields as the route object schema outputs them. */
export interface DevFields {
  command?: string | string[];
  cwd?: string;
  env?: Record<string, string>;
  port?: number;
  waitTimeout?: number;
}

/** The dev server of one route, `cwd` resolved against `baseDir` (the config file's directory, or the shell's). */
export function devServerOf(fields: DevFields, baseDir: string): DevServerConfig | undefined {
  if (fields.command === undefined) return undefined;
  const cwd = fields.cwd === undefined ? baseDir : isAbsolute(fields.cwd) ? fields.cwd : resolve(baseDir, fields.cwd);
  return {
    command: fields.command,
    cwd,
    env: fields.env ?? {},
    ...(fields.port === undefined ? {} : { port: fields.port }),
    ...(fields.waitTimeout === undefined ? {} : { waitTimeoutMs: fields.waitTimeout }),
  };
}

/** Fields that mean something only with `command`. */
export const DEV_ONLY_FIELDS = ["cwd", "env", "port", "waitTimeout"] as const;
