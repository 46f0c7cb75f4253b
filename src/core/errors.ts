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
  | "E_IO";

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
