/**
 * Upstream failures as values. The proxy turns them into a 502/504 page; `kind` says which and the hint says
 * what the user can do about it (usually: start the dev server).
 */
import { GotunnelError } from "../../core/errors.ts";

export type UpstreamErrorKind = "refused" | "timeout" | "reset" | "protocol" | "dns";

export interface UpstreamErrorOptions {
  cause?: unknown;
  hint?: string;
  details?: Record<string, unknown>;
}

export class UpstreamError extends GotunnelError {
  readonly kind: UpstreamErrorKind;

  constructor(kind: UpstreamErrorKind, message: string, options: UpstreamErrorOptions = {}) {
    super("E_UPSTREAM", message, options);
    this.name = "UpstreamError";
    this.kind = kind;
  }
}

export function isUpstreamError(value: unknown): value is UpstreamError {
  return value instanceof UpstreamError;
}

/** A malformed response: the framing can no longer be trusted, so the socket is discarded. */
export function protocolError(message: string, cause?: unknown): UpstreamError {
  return new UpstreamError("protocol", `upstream sent a malformed response: ${message}`, { cause });
}

function errorCode(err: unknown): string {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string") return err.code;
  return "";
}

export function isConnectionRefused(err: unknown): boolean {
  return errorCode(err) === "ECONNREFUSED";
}

const DNS_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "EAI_NONAME", "EAI_NODATA", "ENODATA"]);
const TIMEOUT_CODES = new Set(["ETIMEDOUT", "ETIME"]);

/** Maps a `Bun.connect` failure to an UpstreamError that names the origin and the next step. */
export function connectError(err: unknown, origin: string): UpstreamError {
  const code = errorCode(err);
  const details = { origin, code };
  if (DNS_CODES.has(code)) {
    return new UpstreamError("dns", `cannot resolve upstream ${origin} (${code})`, {
      cause: err,
      details,
      hint: "check the route's target host name",
    });
  }
  if (TIMEOUT_CODES.has(code)) {
    return new UpstreamError("timeout", `connecting to upstream ${origin} timed out`, { cause: err, details });
  }
  if (code === "ECONNRESET" || code === "EPIPE") {
    return new UpstreamError("reset", `upstream ${origin} reset the connection`, { cause: err, details });
  }
  // ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL: nothing is listening there for us.
  return new UpstreamError("refused", `connection to upstream ${origin} refused${code ? ` (${code})` : ""}`, {
    cause: err,
    details,
    hint: `is the dev server running and listening on ${origin}?`,
  });
}

export function connectTimeoutError(origin: string, timeoutMs: number): UpstreamError {
  return new UpstreamError("timeout", `connecting to upstream ${origin} took longer than ${timeoutMs} ms`, {
    details: { origin, timeoutMs },
    hint: "is the dev server stuck? restart it",
  });
}

export function resetError(origin: string, stage: string, cause?: unknown): UpstreamError {
  return new UpstreamError("reset", `upstream ${origin} closed the connection ${stage}`, {
    cause,
    details: { origin, stage },
  });
}
