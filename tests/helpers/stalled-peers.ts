/**
 * Peers that misbehave on purpose, for the tests that bound what one client or one upstream can cost the proxy:
 * WebSocket peers that stop reading (so only backpressure keeps the bytes out of the proxy's memory) or flood, and
 * the daemon's resident memory as the kernel reports it. Raw sockets: a well-behaved library would hide the fault.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import type { Socket } from "bun";

/** RFC 6455 §1.3: the accept value is SHA-1 over the key and this GUID, base64. */
const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** Frames a flooding peer sends: large enough to move a gigabyte in a thousand writes. */
export const FLOOD_FRAME_BYTES = 1024 * 1024;

/** Resident memory of `pid` now (VmRSS), in KiB. */
export function rssKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match?.[1]) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]);
}

/** One unmasked binary frame (a server's) of `payloadBytes` zero bytes: 64-bit length form (RFC 6455 §5.2). */
function serverFrame(payloadBytes: number): Buffer {
  const frame = Buffer.alloc(10 + payloadBytes);
  frame[0] = 0x82;
  frame[1] = 127;
  frame.writeBigUInt64BE(BigInt(payloadBytes), 2);
  return frame;
}

export interface StalledWsUpstream {
  port: number;
  /** Handshakes completed. */
  readonly upgrades: number;
  /** Bytes of frames the flooding side handed to the kernel (0 unless `flood`). */
  readonly sentBytes: number;
  stop(): void;
}

interface UpstreamState {
  head: string;
  upgraded: boolean;
}

/**
 * A WebSocket upstream that completes the handshake and then never reads again (its receive window fills, as a
 * dev server stuck in a loop would). With `flood`, it also sends 1 MiB binary frames as fast as the kernel takes
 * them, `floodMessages` of them.
 */
export function startStalledWsUpstream(options: { flood?: boolean; floodMessages?: number } = {}): StalledWsUpstream {
  const frame = serverFrame(FLOOD_FRAME_BYTES);
  const messages = options.floodMessages ?? Number.POSITIVE_INFINITY;
  const stats = { upgrades: 0, sentBytes: 0 };
  const progress = new Map<Socket<UpstreamState>, { messages: number; offset: number }>();
  const pump = (socket: Socket<UpstreamState>) => {
    const state = progress.get(socket) ?? { messages: 0, offset: 0 };
    progress.set(socket, state);
    while (state.messages < messages) {
      const written = socket.write(frame.subarray(state.offset));
      if (written <= 0) return;
      stats.sentBytes += written;
      state.offset += written;
      if (state.offset < frame.length) return;
      state.offset = 0;
      state.messages++;
    }
  };
  const listener = Bun.listen<UpstreamState>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { head: "", upgraded: false };
      },
      data(socket, chunk) {
        if (socket.data.upgraded) return;
        socket.data.head += chunk.toString("latin1");
        const key = /^sec-websocket-key:\s*(\S+)\s*$/im.exec(socket.data.head)?.[1];
        if (!socket.data.head.includes("\r\n\r\n") || key === undefined) return;
        const accept = createHash("sha1").update(`${key}${WS_GUID}`).digest("base64");
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
        );
        socket.data.upgraded = true;
        stats.upgrades++;
        socket.pause();
        if (options.flood) pump(socket);
      },
      drain(socket) {
        if (options.flood && socket.data.upgraded) pump(socket);
      },
      close(socket) {
        progress.delete(socket);
      },
    },
  });
  return {
    port: listener.port,
    get upgrades() {
      return stats.upgrades;
    },
    get sentBytes() {
      return stats.sentBytes;
    },
    stop: () => listener.stop(true),
  };
}

/**
 * A WebSocket client over TLS that completes the handshake with `host` through the proxy and then stops reading:
 * whatever the upstream sends can only pile up in the proxy, unless the proxy stops reading the upstream.
 */
export async function openStalledWsClient(port: number, host: string, ca: string): Promise<TLSSocket> {
  const socket = tlsConnect({ host: "127.0.0.1", port, servername: host, ca });
  const key = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", () => resolve());
    socket.once("error", reject);
  });
  socket.write(
    `GET / HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const head = await new Promise<string>((resolve, reject) => {
    let text = "";
    const onData = (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (!text.includes("\r\n\r\n")) return;
      socket.off("data", onData);
      // Stop reading here: everything after the handshake stays in the kernel and in the proxy.
      socket.pause();
      resolve(text);
    };
    socket.on("data", onData);
    socket.once("error", reject);
    socket.once("close", () => reject(new Error(`the proxy closed the connection during the handshake: ${text}`)));
  });
  if (!head.startsWith("HTTP/1.1 101")) throw new Error(`expected 101 Switching Protocols, got: ${head}`);
  socket.on("error", () => undefined);
  return socket;
}

/** A TLS connection to the proxy as `host`, with nothing sent yet. */
export async function openTls(port: number, host: string, ca: string): Promise<TLSSocket> {
  const socket = tlsConnect({ host: "127.0.0.1", port, servername: host, ca });
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", () => resolve());
    socket.once("error", reject);
  });
  return socket;
}

export interface RawExchange {
  /** Everything the proxy sent, as latin1 text. */
  readonly text: string;
  /** Resolves when the proxy closed the connection (or it broke). */
  closed: Promise<void>;
  /** Resolves with the first response's status code, once its head is in. */
  status: Promise<number>;
}

/** Records what the proxy sends on `socket` (so a test can write slowly and still see the answer). */
export function recordExchange(socket: TLSSocket): RawExchange {
  const state = { text: "" };
  let resolveStatus!: (status: number) => void;
  const status = new Promise<number>((resolve) => {
    resolveStatus = resolve;
  });
  socket.on("data", (chunk: Buffer) => {
    state.text += chunk.toString("latin1");
    const match = /^HTTP\/1\.1 (\d{3})/.exec(state.text);
    if (match?.[1] && state.text.includes("\r\n\r\n")) resolveStatus(Number(match[1]));
  });
  // A reset after the proxy gave up on a client is one of the outcomes under test: `closed` reports it.
  socket.on("error", () => undefined);
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return {
    get text() {
      return state.text;
    },
    closed,
    status,
  };
}

/**
 * An upstream that reads every request body to its end, however slowly it comes, and answers with its length.
 * `/late?ms=N` answers only after N ms (a long poll); `/drip` streams five lines 200 ms apart.
 */
export function startPatientUpstream(): { port: number; stop(): void; bodies: number } {
  const state = { bodies: 0 };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    // A dev server does not cut a slow upload (Bun's default would, after 10 s): the proxy must cope on its own.
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/drip") return new Response(drip(5, 200), { headers: { "content-type": "text/plain" } });
      const body = await req.arrayBuffer();
      state.bodies++;
      if (url.pathname === "/late") await Bun.sleep(Number(url.searchParams.get("ms")));
      return new Response(`got ${body.byteLength} bytes\n`, { headers: { "content-type": "text/plain" } });
    },
  });
  return Object.assign(state, { port: server.port ?? 0, stop: () => server.stop(true) });
}

function drip(lines: number, gapMs: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent > 0) await Bun.sleep(gapMs);
      controller.enqueue(new TextEncoder().encode(`line ${sent}\n`));
      if (++sent === lines) controller.close();
    },
  });
}
