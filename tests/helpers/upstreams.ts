/**
 * Small real upstream servers for the e2e tier, on loopback only: they play the user's dev server behind gotunnel.
 * Each records what it saw so a test can assert on what the proxy forwarded. Every factory returns `stop()`;
 * register it with the test's E2EScope.
 */
import type { Server, ServerWebSocket } from "bun";

export interface Upstream {
  port: number;
  stop(): void;
}

export interface SeenRequest {
  method: string;
  /** Path and query as received. */
  path: string;
  /** Lower-case names, duplicates kept. */
  headers: [string, string][];
  body: string;
}

export type Loopback = "127.0.0.1" | "::1";

function pathOf(url: string): string {
  const parsed = new URL(url);
  return parsed.pathname + parsed.search;
}

/**
 * An HTTP upstream that answers every request with a JSON echo of what it received, except these paths:
 * `/status/<n>` (empty body), `/redirect` (302 to /elsewhere), `/cookies` (two Set-Cookie lines), `/gzip` (a gzip
 * body sent as-is with Content-Encoding: gzip, see GZIP_BODY), `/text` ("hello from upstream").
 */
export function startEchoUpstream(hostname: Loopback = "127.0.0.1"): Upstream & { seen: SeenRequest[] } {
  const seen: SeenRequest[] = [];
  const server = Bun.serve({
    hostname,
    port: 0,
    async fetch(req) {
      const path = pathOf(req.url);
      const body = await req.text();
      const record: SeenRequest = { method: req.method, path, headers: [...req.headers], body };
      seen.push(record);
      const status = /^\/status\/(\d{3})$/.exec(path)?.[1];
      if (status) return new Response(null, { status: Number(status) });
      if (path === "/redirect") return new Response(null, { status: 302, headers: { location: "/elsewhere" } });
      if (path === "/cookies") {
        const headers = new Headers([
          ["set-cookie", "a=1; Path=/"],
          ["set-cookie", "b=2; Path=/; HttpOnly"],
        ]);
        return new Response("two cookies", { headers });
      }
      if (path === "/gzip") {
        return new Response(GZIP_BODY, { headers: { "content-encoding": "gzip", "content-type": "text/plain" } });
      }
      if (path === "/text") return new Response("hello from upstream", { headers: { "x-upstream": hostname } });
      return Response.json(record, { headers: { "x-upstream": hostname } });
    },
  });
  return { port: portOf(server), seen, stop: () => server.stop(true) };
}

/** The cheapest upstream: "ok" for every request, counting them (for load tests, where recording would cost). */
export function startHelloUpstream(): Upstream & { count: number } {
  const state = { count: 0 };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch() {
      state.count++;
      return new Response("ok");
    },
  });
  return Object.assign(state, { port: portOf(server), stop: () => server.stop(true) });
}

/** A gzip body whose bytes must reach the client unchanged (`curl --raw` without --compressed). */
export const GZIP_PLAIN = "gotunnel passes compressed bodies through untouched\n".repeat(200);
export const GZIP_BODY = Bun.gzipSync(new TextEncoder().encode(GZIP_PLAIN));

function portOf(server: Server<unknown>): number {
  if (server.port === undefined) throw new Error("upstream has no port");
  return server.port;
}

/**
 * A raw TCP upstream that answers every request with exactly `response` (bytes we choose, including hop-by-hop
 * headers that Bun.serve would rewrite), then closes. Records the raw request heads it received.
 */
export function startRawUpstream(response: string): Upstream & { heads: string[] } {
  const heads: string[] = [];
  const buffers = new Map<object, string>();
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(socket, chunk) {
        const text = (buffers.get(socket) ?? "") + chunk.toString("latin1");
        const end = text.indexOf("\r\n\r\n");
        if (end === -1) {
          buffers.set(socket, text);
          return;
        }
        buffers.delete(socket);
        heads.push(text.slice(0, end));
        socket.end(response);
      },
      close(socket) {
        buffers.delete(socket);
      },
    },
  });
  return { port: listener.port, heads, stop: () => listener.stop(true) };
}

export interface SseUpstream extends Upstream {
  /** Set just before the second event is written: the client must have seen the first one already. */
  secondSent: boolean;
}

/**
 * Server-sent events: one event, then `silenceMs` of nothing, then a second event and the end of the stream. The
 * upstream itself never cuts a quiet connection (idleTimeout 0), as a real dev server would not.
 */
export function startSseUpstream(silenceMs: number): SseUpstream {
  const state = { secondSent: false };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    fetch() {
      const encoder = new TextEncoder();
      let timer: Timer | undefined;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(encoder.encode("event: tick\ndata: one\n\n"));
          timer = setTimeout(() => {
            state.secondSent = true;
            controller.enqueue(encoder.encode("event: tick\ndata: two\n\n"));
            controller.close();
          }, silenceMs);
        },
        cancel() {
          clearTimeout(timer);
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
    },
  });
  return Object.assign(state, { port: portOf(server), stop: () => server.stop(true) });
}

export interface WsUpstream extends Upstream {
  /** Path, Host header and offered subprotocols of each handshake. */
  handshakes: { path: string; host: string | null; protocols: string | null }[];
  /** Close code and reason of each socket the client side closed. */
  closes: { code: number; reason: string }[];
}

/**
 * WebSocket echo: text back as text, binary back as binary. Accepts the `vite-hmr` subprotocol when offered. The
 * message "close 4001 <reason>" makes the upstream close with code 4001 and that reason.
 */
export function startWebSocketUpstream(): WsUpstream {
  const handshakes: WsUpstream["handshakes"] = [];
  const closes: WsUpstream["closes"] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, srv) {
      const protocols = req.headers.get("sec-websocket-protocol");
      handshakes.push({ path: pathOf(req.url), host: req.headers.get("host"), protocols });
      const offered = (protocols ?? "").split(",").map((p) => p.trim());
      const headers = offered.includes("vite-hmr") ? { "sec-websocket-protocol": "vite-hmr" } : undefined;
      if (srv.upgrade(req, { headers, data: undefined })) return undefined;
      return new Response("expected a WebSocket upgrade", { status: 426 });
    },
    websocket: {
      message(ws: ServerWebSocket<undefined>, message) {
        const close = typeof message === "string" ? /^close (\d+) (.*)$/.exec(message) : null;
        if (close) ws.close(Number(close[1]), close[2]);
        else ws.send(message);
      },
      close(_ws, code, reason) {
        closes.push({ code, reason });
      },
    },
  });
  return { port: portOf(server), handshakes, closes, stop: () => server.stop(true) };
}

export interface ByteUpstream extends Upstream {
  /** Body bytes of each upload, in order. */
  uploads: number[];
}

const DOWNLOAD_CHUNK_BYTES = 1 << 20;

/**
 * Counts request body bytes as they stream in (never buffering the body) and answers `{"bytes":N}`. GET
 * `/download/<n>` streams n bytes in 1 MiB chunks instead.
 */
export function startByteUpstream(): ByteUpstream {
  const uploads: number[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    async fetch(req) {
      const download = /^\/download\/(\d+)$/.exec(new URL(req.url).pathname)?.[1];
      if (download) return new Response(patternStream(Number(download)), { headers: { "content-length": download } });
      let bytes = 0;
      if (req.body) for await (const chunk of req.body) bytes += chunk.byteLength;
      uploads.push(bytes);
      return Response.json({ bytes });
    },
  });
  return { port: portOf(server), uploads, stop: () => server.stop(true) };
}

/** The download pattern: each 1 MiB chunk is bytes i % 251, the last one cut short. */
const downloadChunk = () => new Uint8Array(DOWNLOAD_CHUNK_BYTES).map((_, i) => i % 251);

/** SHA-256 (hex) of what `/download/<total>` sends, to check a download byte for byte. */
export function downloadSha256(total: number): string {
  const chunk = downloadChunk();
  const hasher = new Bun.CryptoHasher("sha256");
  for (let sent = 0; sent < total; sent += DOWNLOAD_CHUNK_BYTES) {
    hasher.update(chunk.subarray(0, Math.min(DOWNLOAD_CHUNK_BYTES, total - sent)));
  }
  return hasher.digest("hex");
}

function patternStream(total: number): ReadableStream<Uint8Array> {
  const chunk = downloadChunk();
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const size = Math.min(DOWNLOAD_CHUNK_BYTES, total - sent);
      if (size <= 0) {
        controller.close();
        return;
      }
      controller.enqueue(size === DOWNLOAD_CHUNK_BYTES ? chunk.slice() : chunk.slice(0, size));
      sent += size;
    },
  });
}
