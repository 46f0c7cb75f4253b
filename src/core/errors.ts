/**
 * Errors are values: a stable code, a message that says what happened, a hint that says what to do next,
 * and the process exit code the CLI uses. They are mapped to output exactly once, in src/main.ts.
 */

/** Documented, stable exit codes (README "Exit codes"). Never renumber: scripts depend on them. */
export const ExitCode = {
  ok: 0,
  /** Unexpected failure: a bug. Prints a stack trace. */
  internal: 1,
  /** Bad command-line usage: unknown flag, missing argument. */
  usage: 2,
  /** The project or user config file is invalid or cannot be loaded. */
  config: 3,
  /** A port is in use or needs privileges that we do not have. */
  port: 4,
  /** Certificate authority or certificate problem. */
  tls: 5,
  /** An upstream did not become reachable in time (`gotunnel run`). */
  upstream: 6,
  /** The daemon is not running or did not answer. */
  daemon: 7,
  /** A file gotunnel owns (state, hosts) could not be read or written. */
  io: 8,
  /** `gotunnel health`: the daemon runs but is not ready (listeners not bound or no valid CA). */
  notReady: 9,
  /** The login service could not be installed, queried or removed (no systemd user manager, launchctl refused). */
  service: 10,
  /** `gotunnel share --tailscale|--funnel|--cloudflare`: the tool is missing, logged out, or refused. */
  share: 11,
  /** Interrupted by SIGINT. 128 + 2, as shells report it. */
  interrupted: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorCode =
  | "E_USAGE"
  | "E_CONFIG_LOAD"
  | "E_CONFIG_INVALID"
  | "E_DOMAIN_INVALID"
  | "E_PORT_IN_USE"
  | "E_PORT_PRIVILEGED"
  | "E_ADDR_NOT_AVAILABLE"
  | "E_TLS"
  | "E_UPSTREAM"
  | "E_DAEMON"
  | "E_IO"
  | "E_SERVICE"
  | "E_SHARE";

const EXIT_BY_CODE: Record<ErrorCode, ExitCodeValue> = {
  E_USAGE: ExitCode.usage,
  E_CONFIG_LOAD: ExitCode.config,
  E_CONFIG_INVALID: ExitCode.config,
  E_DOMAIN_INVALID: ExitCode.config,
  E_PORT_IN_USE: ExitCode.port,
  E_PORT_PRIVILEGED: ExitCode.port,
  E_ADDR_NOT_AVAILABLE: ExitCode.port,
  E_TLS: ExitCode.tls,
  E_UPSTREAM: ExitCode.upstream,
  E_DAEMON: ExitCode.daemon,
  E_IO: ExitCode.io,
  E_SERVICE: ExitCode.service,
  E_SHARE: ExitCode.share,
};

export interface GotunnelErrorOptions {
  /** The exact next step for the user, e.g. "run `gotunnel up --proxy-https-port 8443`". */
  hint?: string;
  /** Extra structured facts for `--json` output and logs. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

/** A user-facing error: printed as message + hint, never as a stack trace. */
export class GotunnelError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;
  readonly exitCode: ExitCodeValue;

  constructor(code: ErrorCode, message: string, options: GotunnelErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "GotunnelError";
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
    this.exitCode = EXIT_BY_CODE[code];
  }
}

export function isGotunnelError(value: unknown): value is GotunnelError {
  return value instanceof GotunnelError;
}

/** errno codes that mean "the file system has no room for this write": out of blocks or inodes, or the user's quota. */
const DISK_FULL_CODES: Record<string, string> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "your disk quota there is used up",
};

/** True for an ENOSPC/EDQUOT error from the file system (see diskFullError). */
export function isDiskFull(error: unknown): boolean {
  return Object.hasOwn(DISK_FULL_CODES, errnoCode(error));
}

/**
 * The one message for a full file system, whichever file hit it (state, CA, log, hosts): which file system, which
 * file could not be written, and what to do. `dir` is the directory the file lives in (what `df` should look at);
 * both are undefined only when the failed call did not say (main.ts's last resort).
 */
export function diskFullError(error: unknown, file?: string, dir?: string): GotunnelError {
  const code = isDiskFull(error) ? errnoCode(error) : "ENOSPC";
  const where =
    dir === undefined ? "a file system gotunnel writes to is full" : `the file system holding ${dir} is full`;
  const what = file === undefined ? "" : `: could not write ${file}`;
  return new GotunnelError("E_IO", `${where} (${code}: ${DISK_FULL_CODES[code]})${what}`, {
    hint: `free some space on it (\`df -h${dir === undefined ? "" : ` ${dir}`}\` shows what is left), then run the command again`,
    details: { code, ...(file === undefined ? {} : { path: file }) },
    cause: error,
  });
}

function errnoCode(error: unknown): string {
  return typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
}
