/**
 * Request head serialization: one string per request, written to the socket in one call (Bun sockets do not
 * buffer, so every write is a syscall). Framing fields are always ours: the caller's Content-Length and
 * Transfer-Encoding are dropped and replaced by what we actually send (RFC 9112 §6.1, §6.2).
 */
import type { UpstreamRequest } from "./types.ts";

const CONTENT_LENGTH = "content-length";
const TRANSFER_ENCODING = "transfer-encoding";
const HOST = "host";

/** Methods whose semantics define request content: send `Content-Length: 0` when they have none (RFC 9110 §8.6). */
const METHODS_WITH_CONTENT = new Set(["POST", "PUT", "PATCH"]);

/** Idempotent methods (RFC 9110 §9.2.2): safe to replay on a fresh socket when a reused one was dead. */
const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method);
}

/** CR or LF inside a field would let a caller inject extra fields or a second request (RFC 9112 §11.2). */
function hasLineBreak(text: string): boolean {
  return text.indexOf("\n") !== -1 || text.indexOf("\r") !== -1;
}

function assertToken(kind: string, text: string): void {
  if (text.length === 0 || hasLineBreak(text) || text.indexOf(" ") !== -1) {
    throw new TypeError(`invalid ${kind} for an upstream request: ${JSON.stringify(text)}`);
  }
}

/** A length we write must be one we can trust: `Content-Length: NaN` would leave the upstream guessing. */
function assertLength(length: number | undefined): void {
  if (length !== undefined && !(Number.isSafeInteger(length) && length >= 0)) {
    throw new TypeError(`invalid content length for an upstream request: ${length}`);
  }
}

/** `Host` for requests that arrive without one (HTTP/1.1 requires it, RFC 9112 §3.2). */
export function hostFieldValue(hostname: string, port: number): string {
  const bracketed = hostname.includes(":") && !hostname.startsWith("[") ? `[${hostname}]` : hostname;
  return port === 80 ? bracketed : `${bracketed}:${port}`;
}

/** Request line + fields + framing + the empty line, as one string. Throws TypeError on an unsafe request. */
export function serializeHead(req: UpstreamRequest, defaultHost: string): string {
  assertToken("method", req.method);
  assertToken("request target", req.path);
  let head = `${req.method} ${req.path} HTTP/1.1\r\n`;
  let hasHost = false;
  const headers = req.headers;
  for (let i = 0; i < headers.length; i++) {
    const field = headers[i]!;
    const name = field[0];
    const value = field[1];
    const length = name.length;
    // Compare lengths first so the common field pays no toLowerCase allocation.
    if (length === 14 || length === 17 || length === 4) {
      const lower = name.toLowerCase();
      if (lower === CONTENT_LENGTH || lower === TRANSFER_ENCODING) continue;
      if (lower === HOST) hasHost = true;
    }
    if (hasLineBreak(name) || hasLineBreak(value)) {
      throw new TypeError(`invalid header field for an upstream request: ${JSON.stringify(name)}`);
    }
    head += `${name}: ${value}\r\n`;
  }
  if (!hasHost) head += `Host: ${defaultHost}\r\n`;
  if (req.body !== null) {
    assertLength(req.contentLength);
    head +=
      req.contentLength === undefined ? "Transfer-Encoding: chunked\r\n" : `Content-Length: ${req.contentLength}\r\n`;
  } else if (METHODS_WITH_CONTENT.has(req.method)) {
    head += "Content-Length: 0\r\n";
  }
  return `${head}\r\n`;
}

/**
 * Field values are byte strings (RFC 9110 §5.5): a char above 0x7F stands for one byte (latin1), which a UTF-8
 * write would turn into two. Such heads are rare, so they alone pay for an explicit latin1 encoding.
 */
export function encodeHead(head: string): string | Buffer {
  return Buffer.byteLength(head, "utf8") === head.length ? head : Buffer.from(head, "latin1");
}

/** The bytes before one chunk's data: the previous chunk's CRLF (unless first), hex size, CRLF (RFC 9112 §7.1). */
export function chunkPrefix(size: number, first: boolean): string {
  return first ? `${size.toString(16)}\r\n` : `\r\n${size.toString(16)}\r\n`;
}

/** The last-chunk and the empty trailer section; `afterData` closes the previous chunk's data first. */
export function lastChunk(afterData: boolean): string {
  return afterData ? "\r\n0\r\n\r\n" : "0\r\n\r\n";
}

/** Copies an ASCII prefix and a chunk into one buffer so a small chunk costs one write. */
export function joinPrefix(prefix: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + data.byteLength);
  for (let i = 0; i < prefix.length; i++) out[i] = prefix.charCodeAt(i);
  out.set(data, prefix.length);
  return out;
}
