/**
 * HTTP/1.1 byte for byte, for the tests that curl and fetch cannot write: repeated framing fields, pipelined
 * requests, request-targets a URL parser would rewrite. A raw client (TCP or TLS) and a raw upstream that records
 * exactly the bytes the proxy sent it. Loopback only.
 */
import { readFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Upstream } from "./upstreams.ts";

export interface RawTarget {
  port: number;
  host?: "127.0.0.1" | "::1";
  /** TLS with this CA file and SNI name; absent: plain TCP. */
  tls?: { ca: string; servername: string };
}

export interface RawReply {
  /** Everything received, latin1 (one char per byte). */
  text: string;
  /** The peer closed the connection; false: it was still open after `waitMs`. */
  closed: boolean;
}

/** Writes `request` in ONE write, then collects the reply until the peer closes or `waitMs` passes. */
export function rawExchange(target: RawTarget, request: string, waitMs = 10_000): Promise<RawReply> {
  const connection = rawConnection(target, request);
  const timer = setTimeout(() => connection.close(), waitMs);
  return connection.reply.finally(() => clearTimeout(timer));
}

export interface RawConnection {
  /** Settles when either side closes: `closed` says whether the peer did. */
  reply: Promise<RawReply>;
  /** What has arrived so far, latin1. */
  received(): string;
  /** Writes more bytes (latin1) on the same connection. */
  write(bytes: string): void;
  /** Closes from our side, like a client that gives up. */
  close(): void;
}

/** Writes `request` in ONE write and collects what comes back until either side closes. */
export function rawConnection(target: RawTarget, request: string): RawConnection {
  const host = target.host ?? "127.0.0.1";
  const socket: Socket = target.tls
    ? tlsConnect({ host, port: target.port, servername: target.tls.servername, ca: readFileSync(target.tls.ca) })
    : netConnect({ host, port: target.port });
  let text = "";
  let ours = false;
  const reply = new Promise<RawReply>((resolve, reject) => {
    socket.once(target.tls ? "secureConnect" : "connect", () => socket.write(Buffer.from(request, "latin1")));
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
    });
    socket.on("close", () => resolve({ text, closed: !ours }));
    socket.on("error", (error) => {
      // A reset after some bytes is still an answer (a close); before any, the test has nothing to look at.
      if (text === "") reject(error);
    });
  });
  return {
    reply,
    received: () => text,
    write: (bytes) => socket.write(Buffer.from(bytes, "latin1")),
    close() {
      ours = true;
      socket.destroy();
    },
  };
}

/**
 * The status codes of every response in a raw reply, in order. A response follows the previous body directly, so
 * status lines are found anywhere: the bodies the tests use never contain one.
 */
export function statuses(reply: RawReply): number[] {
  return [...reply.text.matchAll(/HTTP\/1\.1 (\d{3}) [^\r\n]*\r\n/g)].map((match) => Number(match[1]));
}

export interface RecordedRequest {
  /** Request line and fields exactly as received, without the empty line. */
  head: string;
  /** The body bytes as received (chunked framing included), latin1. */
  body: string;
}

export interface RecordingUpstream extends Upstream {
  requests: RecordedRequest[];
}

const OK_RESPONSE = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";

/**
 * A raw upstream that records each request's head and body bytes exactly, and answers each with `200 ok` after
 * `delayMs`. It frames what it receives by a single plain `Content-Length` or `Transfer-Encoding: chunked`; any other
 * head counts as having no body, so a malformed length shows up in `head` (and its body as a bogus next request).
 */
export function startRecordingUpstream(options: { delayMs?: number } = {}): RecordingUpstream {
  const requests: RecordedRequest[] = [];
  const buffers = new Map<object, string>();
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(socket, chunk) {
        let buffer = (buffers.get(socket) ?? "") + chunk.toString("latin1");
        for (let next = splitRequest(buffer); next; next = splitRequest(buffer)) {
          requests.push(next.request);
          buffer = next.rest;
          if (options.delayMs) setTimeout(() => socket.write(OK_RESPONSE), options.delayMs);
          else socket.write(OK_RESPONSE);
        }
        buffers.set(socket, buffer);
      },
      close(socket) {
        buffers.delete(socket);
      },
    },
  });
  return { port: listener.port, requests, stop: () => listener.stop(true) };
}

function splitRequest(buffer: string): { request: RecordedRequest; rest: string } | undefined {
  const end = buffer.indexOf("\r\n\r\n");
  if (end === -1) return undefined;
  const head = buffer.slice(0, end);
  const start = end + 4;
  const lengths = [...head.matchAll(/^content-length:[ \t]*(\d+)[ \t]*$/gim)].map((match) => Number(match[1]));
  let bodyEnd = start;
  if (/^transfer-encoding:[ \t]*chunked[ \t]*$/im.test(head)) {
    const last = buffer.startsWith("0\r\n\r\n", start) ? start - 2 : buffer.indexOf("\r\n0\r\n\r\n", start);
    if (last === -1) return undefined;
    bodyEnd = last + 7;
  } else if (lengths.length === 1) {
    bodyEnd = start + (lengths[0] as number);
    if (buffer.length < bodyEnd) return undefined;
  }
  return { request: { head, body: buffer.slice(start, bodyEnd) }, rest: buffer.slice(bodyEnd) };
}

/** The values of the field `name` (any case) in a recorded head. */
export function fieldValues(head: string, name: string): string[] {
  return head
    .split("\r\n")
    .slice(1)
    .filter((line) => line.slice(0, line.indexOf(":")).toLowerCase() === name)
    .map((line) => line.slice(line.indexOf(":") + 1).trim());
}

/** The request-target of a recorded head's request line. */
export function requestTarget(head: string): string {
  const line = head.slice(0, head.indexOf("\r\n"));
  return line.slice(line.indexOf(" ") + 1, line.lastIndexOf(" "));
}
