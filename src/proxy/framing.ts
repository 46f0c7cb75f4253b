/**
 * A client request's body framing, decided once from its Content-Length and Transfer-Encoding (RFC 9112 §6). The
 * upstream request's framing header is generated from this one parsed value, never copied: a copied header is
 * how two parsers come to disagree about where a request ends (request smuggling, RFC 9112 §11.2).
 *
 * Bun.serve has already framed the request by the time we see it, and it joins repeated fields into one value:
 * two `Content-Length: 5` lines arrive as `5, 5` (Bun 1.4.5). It rejects conflicting lengths, Content-Length with
 * Transfer-Encoding and any coding but `chunked` with its own 400; the checks here hold whatever it lets through.
 */

export type RequestFraming =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  /** Ambiguous or unsupported: the request gets a 400 and never reaches the upstream. */
  | { kind: "invalid"; reason: string };

const NONE: RequestFraming = { kind: "none" };
const CHUNKED: RequestFraming = { kind: "chunked" };
const DIGITS = /^[0-9]+$/;

export function requestFraming(contentLength: string | null, transferEncoding: string | null): RequestFraming {
  if (transferEncoding !== null) {
    // RFC 9112 §6.3 ¶3: both at once "ought to be handled as an error"; a proxy must never forward both.
    if (contentLength !== null) return invalid("it has both Content-Length and Transfer-Encoding");
    return transferEncoding.trim().toLowerCase() === "chunked"
      ? CHUNKED
      : invalid(`Transfer-Encoding "${transferEncoding}" is not supported (only "chunked" is)`);
  }
  return contentLength === null ? NONE : parseContentLength(contentLength);
}

/**
 * RFC 9110 §8.6: a list of identical values (`5, 5`, which is how repeated lines reach us) may be read as that one
 * value; anything else that is not one decimal number makes the framing invalid (RFC 9112 §6.3 ¶5).
 */
function parseContentLength(value: string): RequestFraming {
  let length: number | undefined;
  for (const element of value.split(",")) {
    const digits = element.trim();
    if (!DIGITS.test(digits)) return invalid(`Content-Length "${value}" is not a number`);
    const parsed = Number(digits);
    if (!Number.isSafeInteger(parsed)) return invalid(`Content-Length "${value}" is too large`);
    if (length !== undefined && parsed !== length) return invalid(`Content-Length "${value}" has conflicting values`);
    length = parsed;
  }
  return { kind: "length", length: length as number };
}

function invalid(reason: string): RequestFraming {
  return { kind: "invalid", reason };
}
