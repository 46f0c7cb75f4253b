/**
 * What an upstream answered to a WebSocket upgrade it did not accept. Bun's client WebSocket reports a refused
 * handshake as an "error" event whose message names the status ("Expected 101 status code: 403") but carries
 * neither the body nor the headers, then a 1006 close. So when the bridge's upstream socket fails to open, the
 * handshake is sent once more on a raw socket and the answer read: a dev server that refuses the upgrade
 * (Vite's or webpack's 403 to an unknown Host, Next's bare "Unauthorized" with no status line) is then passed on to
 * the client as it was, and explained when it is a known refusal (refusal.ts), instead of becoming our 502.
 */
import type { BackendTarget } from "./balancer.ts";

/** A refusal is a line or a page; the rest of a large body is not needed to explain it. */
export const UPGRADE_ANSWER_MAX_BYTES = 64 * 1024;
const UPGRADE_ANSWER_TIMEOUT_MS = 5_000;
/** Bytes of a WebSocket key before base64 (RFC 6455 §4.1: a random 16-byte value). */
const KEY_BYTES = 16;
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "::1"]);

/** `status` 0: the upstream wrote no HTTP status line (Next.js writes "Unauthorized" to the socket and closes it). */
export type UpgradeAnswer =
  | { kind: "answer"; status: number; contentType: string | undefined; body: Uint8Array }
  /** It accepted the upgrade this time (a race with whatever refused the first one). */
  | { kind: "accepted" }
  /** No answer: refused, reset or silent. `reason` says which, for the 502. */
  | { kind: "none"; reason: string };

/**
 * Sends the upgrade request (`path` in origin-form, `headers` as the bridge would send them, Host included) to
 * `target` and reads the answer until the upstream closes, the body is complete, or UPGRADE_ANSWER_MAX_BYTES.
 */
export function readUpgradeAnswer(
  target: BackendTarget,
  path: string,
  headers: Record<string, string>,
): Promise<UpgradeAnswer> {
  let head = `GET ${path} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  const key = Buffer.from(crypto.getRandomValues(new Uint8Array(KEY_BYTES))).toString("base64");
  head += `connection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: ${key}\r\n\r\n`;
  const chunks: Uint8Array[] = [];
  let size = 0;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (answer: UpgradeAnswer, socket?: { end(): void }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.end();
      resolve(answer);
    };
    const timer = setTimeout(
      () => finish(parsed() ?? { kind: "none", reason: "no answer in time" }),
      UPGRADE_ANSWER_TIMEOUT_MS,
    );
    const parsed = () => (size === 0 ? undefined : parseAnswer(Buffer.concat(chunks, size), true));
    const tls = target.protocol === "https:" ? { rejectUnauthorized: !LOOPBACK_HOSTS.has(target.hostname) } : undefined;
    Bun.connect({
      hostname: target.hostname,
      port: target.port,
      tls,
      socket: {
        open(socket) {
          socket.write(head);
        },
        data(socket, data) {
          chunks.push(new Uint8Array(data));
          size += data.byteLength;
          const answer = parseAnswer(Buffer.concat(chunks, size), size >= UPGRADE_ANSWER_MAX_BYTES);
          if (answer) finish(answer, socket);
        },
        close() {
          finish(parsed() ?? { kind: "none", reason: "the upstream closed the connection without an answer" });
        },
        error(_socket, error) {
          finish(parsed() ?? { kind: "none", reason: error.message });
        },
      },
    }).catch((error: unknown) => finish({ kind: "none", reason: (error as Error).message ?? String(error) }));
  });
}

/** The answer in `bytes`, or undefined when more may come (`final`: nothing more will). */
export function parseAnswer(bytes: Buffer, final: boolean): UpgradeAnswer | undefined {
  if (!startsLikeHttp(bytes)) {
    return final ? { kind: "answer", status: 0, contentType: undefined, body: new Uint8Array(bytes) } : undefined;
  }
  const end = bytes.indexOf("\r\n\r\n");
  if (end === -1) return final ? { kind: "none", reason: "the upstream sent an incomplete answer" } : undefined;
  const lines = bytes.subarray(0, end).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1] ?? Number.NaN);
  if (!Number.isInteger(status)) return { kind: "none", reason: `the upstream sent a malformed status line` };
  if (status === 101) return { kind: "accepted" };
  const fields = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const body = bytes.subarray(end + 4);
  const length = Number(fields.get("content-length") ?? Number.NaN);
  const chunked = fields.get("transfer-encoding")?.toLowerCase().includes("chunked") === true;
  const complete = Number.isInteger(length) ? body.byteLength >= length : chunked ? body.includes("0\r\n\r\n") : false;
  if (!complete && !final) return undefined;
  const content = chunked ? dechunk(body) : Number.isInteger(length) ? body.subarray(0, length) : body;
  return { kind: "answer", status, contentType: fields.get("content-type"), body: new Uint8Array(content) };
}

/** "HTTP/" or a prefix of it: a status line, or the start of one. */
function startsLikeHttp(bytes: Buffer): boolean {
  const prefix = "HTTP/";
  const n = Math.min(bytes.byteLength, prefix.length);
  return bytes.subarray(0, n).toString("latin1") === prefix.slice(0, n);
}

/** RFC 9112 §7.1 chunked coding, as far as it arrived; extensions and trailers are dropped. */
function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < body.byteLength) {
    const lineEnd = body.indexOf("\r\n", at);
    if (lineEnd === -1) break;
    const size = Number.parseInt(body.subarray(at, lineEnd).toString("latin1"), 16);
    if (!(size > 0)) break;
    parts.push(body.subarray(lineEnd + 2, Math.min(lineEnd + 2 + size, body.byteLength)));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
