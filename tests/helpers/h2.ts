/**
 * A small HTTP/2 client for tests, on node:http2: one TLS connection (a session) to a proxy port with the SNI name
 * and CA we choose, and requests on it as promises. It sees what curl hides: the server's SETTINGS, GOAWAY, a
 * stream reset (RST_STREAM) and its code, and it can send a body in pieces, cancel a stream, or send trailers.
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from "node:http2";
import { curl } from "./e2e.ts";

export const { NGHTTP2_CANCEL } = http2.constants;

export interface H2Response {
  status: number;
  /** Lower-case names; a repeated field (set-cookie) is an array, as node:http2 gives it. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The RST_STREAM code the stream ended with (0 when it ended normally). */
  rstCode: number;
}

export interface H2Connection {
  session: ClientHttp2Session;
  /** `name:port`, the `:authority` requests get unless they set their own. */
  authority: string;
  /** GOAWAY frames received: their error code and last stream id. */
  goaways: { code: number; lastStreamId: number }[];
  /** Resolves when the connection is closed, by either side. */
  closed: Promise<void>;
  /** The server's first SETTINGS frame. */
  settings: Promise<http2.Settings>;
  close(): void;
}

/** Connects to 127.0.0.1:`port` with SNI `servername`, trusting only `ca` (PEM text); resolves once connected. */
export async function connectH2(port: number, servername: string, ca: string): Promise<H2Connection> {
  // 127.0.0.1 in the URL (no name resolution), the name in SNI and in each request's :authority.
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca, servername });
  const goaways: H2Connection["goaways"] = [];
  session.on("goaway", (code, lastStreamId) => goaways.push({ code, lastStreamId }));
  // A session error is reported through the requests and `closed`; unhandled it would crash the test process.
  session.on("error", () => {});
  const closed = new Promise<void>((resolve) => session.once("close", () => resolve()));
  const settings = new Promise<http2.Settings>((resolve) => session.once("remoteSettings", resolve));
  await new Promise<void>((resolve, reject) => {
    session.once("connect", () => resolve());
    session.once("error", reject);
  });
  const authority = `${servername}:${port}`;
  return { session, authority, goaways, closed, settings, close: () => session.close() };
}

/** Sends a request; `:authority` defaults to the connection's name. The stream is handed to `send` to write a body. */
export function h2Request(
  connection: H2Connection,
  headers: OutgoingHttpHeaders,
  send: (stream: ClientHttp2Stream) => void = (stream) => stream.end(),
): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    let stream: ClientHttp2Stream;
    try {
      stream = connection.session.request({
        ":method": "GET",
        ":path": "/",
        ":authority": connection.authority,
        ...headers,
      });
    } catch (error) {
      reject(error);
      return;
    }
    let status = 0;
    let received: H2Response["headers"] = {};
    const chunks: Buffer[] = [];
    stream.on("response", (head) => {
      status = Number(head[":status"]);
      received = head;
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    // A reset stream emits "error" and then "close": the close is what the test asserts on (rstCode).
    stream.on("error", () => {});
    stream.on("close", () =>
      resolve({ status, headers: received, body: Buffer.concat(chunks), rstCode: stream.rstCode ?? 0 }),
    );
    send(stream);
  });
}

/**
 * curl to a proxy URL with `--http2` (ALPN offers h2 and http/1.1) or `--http1.1`; `version` is the protocol curl
 * ended up speaking ("2", "1.1"), which it reports on stderr: with `--http2` it falls back to HTTP/1.1 silently.
 */
export async function curlOver(version: "2" | "1.1", url: string, caPath: string, args: string[] = []) {
  const protocol = version === "2" ? "--http2" : "--http1.1";
  const response = await curl(url, {
    ca: caPath,
    args: [protocol, "-w", "%{stderr}[version %{http_version}]", ...args],
  });
  return { ...response, version: /\[version ([\d.]+)\]$/.exec(response.stderr)?.[1] };
}

/** The connection-specific fields RFC 9113 §8.2.2 forbids in HTTP/2; a response carrying one is malformed. */
export const CONNECTION_SPECIFIC = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"];

/** The connection-specific fields present in a response's headers, to assert none are. */
export function connectionSpecific(headers: Record<string, unknown> | [string, string][]): string[] {
  const names = Array.isArray(headers) ? headers.map(([name]) => name) : Object.keys(headers);
  return names.filter((name) => CONNECTION_SPECIFIC.includes(name.toLowerCase()));
}

export interface RawFrame {
  type: "DATA" | "HEADERS" | "RST_STREAM" | "SETTINGS" | "GOAWAY" | "WINDOW_UPDATE" | "PING" | "OTHER";
  flags: number;
  streamId: number;
  /** RST_STREAM and GOAWAY: the error code (RFC 9113 §7). */
  code?: number;
  /** SETTINGS: identifier → value. */
  settings?: Record<number, number>;
}

const FRAME_TYPES: RawFrame["type"][] = [
  "DATA",
  "HEADERS",
  "OTHER",
  "RST_STREAM",
  "SETTINGS",
  "OTHER",
  "PING",
  "GOAWAY",
];
const FRAME_HEADER_BYTES = 9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const ACK = 0x1;

/** An HPACK integer with a 7-bit prefix (RFC 7541 §5.1). */
function hpackLength(n: number): number[] {
  if (n < 127) return [n];
  const bytes = [127];
  let rest = n - 127;
  for (; rest >= 128; rest >>= 7) bytes.push((rest & 127) | 128);
  return [...bytes, rest];
}

/** Each field as a literal without indexing and without Huffman coding (RFC 7541 §6.2.2): any name, even `:protocol`. */
function hpackLiterals(fields: [string, string][]): Buffer {
  return Buffer.concat(
    fields.flatMap(([name, value]) => [
      Buffer.from([0, ...hpackLength(name.length)]),
      Buffer.from(name),
      Buffer.from(hpackLength(value.length)),
      Buffer.from(value),
    ]),
  );
}

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

function parseFrame(type: number, flags: number, streamId: number, payload: Buffer): RawFrame {
  const parsed: RawFrame = { type: FRAME_TYPES[type] ?? "OTHER", flags, streamId };
  if (type === 8) parsed.type = "WINDOW_UPDATE";
  if (type === 3) parsed.code = payload.readUInt32BE(0);
  if (type === 7) parsed.code = payload.readUInt32BE(4);
  if (type === 4) {
    parsed.settings = {};
    for (let at = 0; at + 6 <= payload.length; at += 6)
      parsed.settings[payload.readUInt16BE(at)] = payload.readUInt32BE(at + 2);
  }
  return parsed;
}

/**
 * Writes the connection preface and one request on stream 1 with exactly `fields` (pseudo-fields included, in that
 * order), which node:http2 would refuse to send (an extended CONNECT to a server that did not offer it, RFC 8441
 * §3). Returns every frame the server sent until stream 1 ended or `waitMs` passed.
 */
export async function rawH2Request(
  port: number,
  servername: string,
  ca: string,
  fields: [string, string][],
  waitMs = 5_000,
): Promise<RawFrame[]> {
  const { connect } = await import("node:tls");
  const frames: RawFrame[] = [];
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, servername, ca, ALPNProtocols: ["h2"] }, () => {
      if (socket.alpnProtocol !== "h2") reject(new Error(`ALPN chose ${socket.alpnProtocol}, not h2`));
      socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      socket.write(frame(4, 0, 0, Buffer.alloc(0)));
      socket.write(frame(1, END_HEADERS | END_STREAM, 1, hpackLiterals(fields)));
    });
    let buffer = Buffer.alloc(0);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(frames);
    };
    const timer = setTimeout(done, waitMs);
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= FRAME_HEADER_BYTES) {
        const length = buffer.readUIntBE(0, 3);
        if (buffer.length < FRAME_HEADER_BYTES + length) break;
        const [type, flags] = [buffer[3] as number, buffer[4] as number];
        const parsed = parseFrame(type, flags, buffer.readUInt32BE(5) & 0x7fffffff, buffer.subarray(9, 9 + length));
        buffer = buffer.subarray(FRAME_HEADER_BYTES + length);
        frames.push(parsed);
        if (parsed.type === "SETTINGS" && !(flags & ACK)) socket.write(frame(4, ACK, 0, Buffer.alloc(0)));
        const streamEnded = parsed.streamId === 1 && (parsed.type === "RST_STREAM" || flags & END_STREAM);
        if (streamEnded || parsed.type === "GOAWAY") done();
      }
    });
    socket.on("error", (error) => (frames.length > 0 ? done() : reject(error)));
    socket.on("close", done);
  });
}

/** RFC 8441 §3: the SETTINGS identifier a server sends (value 1) when it accepts extended CONNECT. */
export const SETTINGS_ENABLE_CONNECT_PROTOCOL = 0x8;
/** RFC 9113 §7. */
export const PROTOCOL_ERROR = 0x1;
