/**
 * Incremental HTTP/1.1 response-head parsing by byte scanning (RFC 9112 §4 status line, §5 fields).
 * The head is located first (`scanHead`, resumable across packets), then parsed in one pass; field names and values are decoded as
 * latin1 because field values are bytes, not UTF-8 (RFC 9110 §5.5). Framing fields are interpreted here
 * and never forwarded as-is: the body we expose is already de-chunked. Hop-by-hop fields (RFC 9110 §7.6.1) never
 * reach `headers` either, so the proxy forwards the head without a second pass over it.
 */
import { protocolError } from "./errors.ts";

const LF = 10;
const CR = 13;
const SP = 32;
const HTAB = 9;
const COLON = 58;
const COMMA = 44;
const DIGIT_0 = 48;
const DIGIT_9 = 57;

/** The largest response head we buffer (nginx's default large_client_header_buffers is 4 x 8 KiB). */
export const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;
/** Content-Length beyond 2^53 cannot be counted exactly in a JS number. */
const MAX_CONTENT_LENGTH = Number.MAX_SAFE_INTEGER;
const INITIAL_HEAD_LINES = 32;
/** Far more fields than any real response; bounds the line index like MAX_RESPONSE_HEAD_BYTES bounds bytes. */
const MAX_HEAD_LINES = 1024;
/** Marks "no Content-Length field". */
export const NO_CONTENT_LENGTH = -1;

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const NAME_CONTENT_LENGTH = bytes("content-length");
const NAME_TRANSFER_ENCODING = bytes("transfer-encoding");
const NAME_CONNECTION = bytes("connection");
const NAME_CONTENT_TYPE = bytes("content-type");
const TOKEN_CHUNKED = bytes("chunked");
const TOKEN_CLOSE = bytes("close");
const TOKEN_KEEP_ALIVE = bytes("keep-alive");
/** Hop-by-hop field names besides Connection and Transfer-Encoding (handled on their own), by length. */
const HOP_BY_HOP = new Map<number, Uint8Array[]>();
for (const name of [
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "upgrade",
  "proxy-authenticate",
  "proxy-authorization",
]) {
  const encoded = bytes(name);
  HOP_BY_HOP.set(encoded.length, [...(HOP_BY_HOP.get(encoded.length) ?? []), encoded]);
}
const STATUS_PREFIX = bytes("HTTP/1.");

/** One parsed head. Reused per connection: only `headers` is new for each response. */
export class ResponseHead {
  status = 0;
  statusText = "";
  minorVersion = 1;
  headers: Headers = new Headers();
  contentLength = NO_CONTENT_LENGTH;
  hasTransferEncoding = false;
  /** The final transfer coding is chunked (RFC 9112 §6.3 ¶4). */
  chunked = false;
  connectionClose = false;
  connectionKeepAlive = false;
  /** Other fields the Connection field named (RFC 9110 §7.6.1): hop-by-hop too, removed once the head is parsed. */
  connectionNames: string[] | null = null;
  hasContentType = false;
  /** Index of the LF ending each non-empty line seen so far (status line first), from scanHead. */
  lineEnds = new Int32Array(INITIAL_HEAD_LINES);
  lineCount = 0;
  /** Where scanHead resumes: always the start of a line. */
  scanFrom = 0;

  /** Starts locating a new head at buf[start]. */
  beginScan(start: number): void {
    this.lineCount = 0;
    this.scanFrom = start;
  }

  recordLine(lf: number): void {
    if (this.lineCount === this.lineEnds.length) {
      if (this.lineCount >= MAX_HEAD_LINES) throw protocolError(`more than ${MAX_HEAD_LINES} header lines`);
      const grown = new Int32Array(this.lineCount * 2);
      grown.set(this.lineEnds);
      this.lineEnds = grown;
    }
    this.lineEnds[this.lineCount++] = lf;
  }

  /** Whether the connection may carry another exchange (RFC 9112 §9.3). */
  get persistent(): boolean {
    return this.minorVersion >= 1 ? !this.connectionClose : this.connectionKeepAlive && !this.connectionClose;
  }
}

function isWhitespace(byte: number | undefined): boolean {
  return byte === SP || byte === HTAB;
}

/** Case-insensitive compare of buf[start, start+lower.length) against lowercase ASCII `lower`. */
function matchesLower(buf: Uint8Array, start: number, lower: Uint8Array): boolean {
  for (let i = 0; i < lower.length; i++) {
    let byte = buf[start + i]!;
    if (byte >= 65 && byte <= 90) byte += 32;
    if (byte !== lower[i]) return false;
  }
  return true;
}

function matchesExact(buf: Uint8Array, start: number, expected: Uint8Array): boolean {
  for (let i = 0; i < expected.length; i++) if (buf[start + i] !== expected[i]) return false;
  return true;
}

/**
 * Continues locating the head in buf[head.scanFrom, to): records each line's end and returns the index just past
 * the empty line that ends the head, or -1 if it has not arrived yet. One native indexOf per line; the parser
 * reuses the recorded positions. A bare LF is accepted as a line terminator (RFC 9112 §2.2).
 */
export function scanHead(buf: Uint8Array, to: number, head: ResponseHead): number {
  let from = head.scanFrom;
  for (;;) {
    const lf = buf.indexOf(LF, from);
    if (lf === -1 || lf >= to) {
      head.scanFrom = from;
      return -1;
    }
    if (lf === from || (lf === from + 1 && buf[from] === CR)) {
      if (head.lineCount === 0) throw protocolError("empty line instead of a status line");
      return lf + 1;
    }
    head.recordLine(lf);
    from = lf + 1;
  }
}

/** Parses the head scanHead just located, starting at buf[start], into `out`. Throws UpstreamError("protocol"). */
export function parseHead(buf: Buffer, start: number, out: ResponseHead): void {
  out.contentLength = NO_CONTENT_LENGTH;
  out.hasTransferEncoding = false;
  out.chunked = false;
  out.connectionClose = false;
  out.connectionKeepAlive = false;
  out.connectionNames = null;
  out.hasContentType = false;
  const headers = new Headers();
  out.headers = headers;
  const lineEnds = out.lineEnds;
  let lineStart = start;
  for (let line = 0; line < out.lineCount; line++) {
    const lf = lineEnds[line]!;
    const lineEnd = buf[lf - 1] === CR ? lf - 1 : lf;
    if (line === 0) parseStatusLine(buf, lineStart, lineEnd, out);
    else parseField(buf, lineStart, lineEnd, out, headers);
    lineStart = lf + 1;
  }
  // parseField sets it; TypeScript cannot see that through the call and still narrows it to null.
  const named = out.connectionNames as string[] | null;
  if (named !== null) {
    try {
      for (const name of named) headers.delete(name);
    } catch (cause) {
      throw protocolError("invalid field name in Connection", cause);
    }
  }
}

function parseStatusLine(buf: Buffer, start: number, lineEnd: number, out: ResponseHead): void {
  // HTTP-name is case-sensitive (RFC 9112 §2.3).
  if (lineEnd - start < 12 || !matchesExact(buf, start, STATUS_PREFIX) || buf[start + 8] !== SP) {
    throw protocolError(
      `bad status line ${JSON.stringify(buf.toString("latin1", start, Math.min(lineEnd, start + 40)))}`,
    );
  }
  const minor = buf[start + 7]! - DIGIT_0;
  const d1 = buf[start + 9]! - DIGIT_0;
  const d2 = buf[start + 10]! - DIGIT_0;
  const d3 = buf[start + 11]! - DIGIT_0;
  if (minor < 0 || minor > 9 || d1 < 1 || d1 > 9 || d2 < 0 || d2 > 9 || d3 < 0 || d3 > 9) {
    throw protocolError("bad HTTP version or status code");
  }
  out.minorVersion = minor;
  out.status = d1 * 100 + d2 * 10 + d3;
  // status-line = HTTP-version SP status-code SP [ reason-phrase ]; tolerate a missing second SP.
  if (lineEnd > start + 12 && buf[start + 12] !== SP) throw protocolError("bad status line");
  const reasonStart = start + 13;
  if (lineEnd <= reasonStart) out.statusText = "";
  else if (lineEnd === reasonStart + 2 && buf[reasonStart] === 79 && buf[reasonStart + 1] === 75) out.statusText = "OK";
  else out.statusText = buf.toString("latin1", reasonStart, lineEnd);
}

function parseField(buf: Buffer, start: number, end: number, out: ResponseHead, headers: Headers): void {
  // RFC 9112 §5.2: a proxy may reject obs-fold with 502 rather than unfold it.
  if (isWhitespace(buf[start])) throw protocolError("obsolete line folding in a field");
  // Names are short: a JS loop beats a native indexOf call here.
  let colon = start;
  while (colon < end && buf[colon] !== COLON) colon++;
  if (colon === end || colon === start) throw protocolError("field line without a name");
  // RFC 9112 §5.1: whitespace between the name and the colon is never allowed.
  if (isWhitespace(buf[colon - 1])) throw protocolError("whitespace before a field's colon");
  let valueStart = colon + 1;
  while (valueStart < end && isWhitespace(buf[valueStart])) valueStart++;
  let valueEnd = end;
  while (valueEnd > valueStart && isWhitespace(buf[valueEnd - 1])) valueEnd--;
  const nameLength = colon - start;
  if (nameLength === 17 && matchesLower(buf, start, NAME_TRANSFER_ENCODING)) {
    out.hasTransferEncoding = true;
    // The last coding of the last field line decides (RFC 9112 §6.3 ¶4); the field itself is not forwarded.
    out.chunked = endsWithToken(buf, valueStart, valueEnd, TOKEN_CHUNKED);
    return;
  }
  if (nameLength === 14 && matchesLower(buf, start, NAME_CONTENT_LENGTH)) {
    parseContentLength(buf, valueStart, valueEnd, out);
  } else if (nameLength === 10 && matchesLower(buf, start, NAME_CONNECTION)) {
    parseConnection(buf, valueStart, valueEnd, out);
    return;
  } else if (nameLength === 12 && matchesLower(buf, start, NAME_CONTENT_TYPE)) {
    out.hasContentType = true;
  } else if (isHopByHop(buf, start, nameLength)) {
    return;
  }
  try {
    headers.append(buf.toString("latin1", start, colon), buf.toString("latin1", valueStart, valueEnd));
  } catch (cause) {
    throw protocolError("invalid field name or value", cause);
  }
}

function isHopByHop(buf: Uint8Array, start: number, length: number): boolean {
  const candidates = HOP_BY_HOP.get(length);
  if (candidates === undefined) return false;
  for (const name of candidates) if (matchesLower(buf, start, name)) return true;
  return false;
}

function endsWithToken(buf: Uint8Array, start: number, end: number, token: Uint8Array): boolean {
  const tokenStart = end - token.length;
  if (tokenStart < start || !matchesLower(buf, tokenStart, token)) return false;
  const before = buf[tokenStart - 1];
  return tokenStart === start || before === COMMA || isWhitespace(before);
}

/** RFC 9112 §6.3 ¶5: repeated identical values ("42, 42") are tolerated; any other mismatch is fatal. */
function parseContentLength(buf: Uint8Array, start: number, end: number, out: ResponseHead): void {
  let value = NO_CONTENT_LENGTH;
  let i = start;
  while (i <= end) {
    while (i < end && isWhitespace(buf[i])) i++;
    let element = 0;
    const digitsStart = i;
    for (let byte = buf[i]!; i < end && byte >= DIGIT_0 && byte <= DIGIT_9; byte = buf[++i]!) {
      element = element * 10 + (byte - DIGIT_0);
      if (element > MAX_CONTENT_LENGTH) throw protocolError("Content-Length too large");
    }
    if (i === digitsStart) throw protocolError("invalid Content-Length");
    while (i < end && isWhitespace(buf[i])) i++;
    if (i < end && buf[i] !== COMMA) throw protocolError("invalid Content-Length");
    if (value !== NO_CONTENT_LENGTH && element !== value) throw protocolError("conflicting Content-Length values");
    value = element;
    i++;
  }
  if (out.contentLength !== NO_CONTENT_LENGTH && out.contentLength !== value) {
    throw protocolError("conflicting Content-Length fields");
  }
  out.contentLength = value;
}

/**
 * Finds the `close` and `keep-alive` connection options (RFC 9112 §9.6); any other token names a field that is
 * hop-by-hop for this response (RFC 9110 §7.6.1), which parseHead removes.
 */
function parseConnection(buf: Buffer, start: number, end: number, out: ResponseHead): void {
  let i = start;
  while (i < end) {
    while (i < end && (isWhitespace(buf[i]) || buf[i] === COMMA)) i++;
    const tokenStart = i;
    while (i < end && buf[i] !== COMMA && !isWhitespace(buf[i])) i++;
    const length = i - tokenStart;
    if (length === 0) continue;
    if (length === 5 && matchesLower(buf, tokenStart, TOKEN_CLOSE)) out.connectionClose = true;
    else if (length === 10 && matchesLower(buf, tokenStart, TOKEN_KEEP_ALIVE)) out.connectionKeepAlive = true;
    else {
      out.connectionNames ??= [];
      out.connectionNames.push(buf.toString("latin1", tokenStart, i).toLowerCase());
    }
  }
}
