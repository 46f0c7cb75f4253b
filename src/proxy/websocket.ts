/**
 * WebSocket bridge: the proxy first opens the upstream socket, then upgrades the client with the subprotocol the
 * upstream chose (so Vite's `vite-hmr` and Next's HMR negotiate as if direct). Messages flow both ways unchanged
 * (text stays text, binary stays binary) and close codes are relayed.
 *
 * Each direction respects backpressure: when the receiving side does not keep up, the bridge stops reading the
 * sending side (Bun's `pause()`, so its kernel buffer fills and TCP slows the peer down) until the backlog drains.
 * Without that, a peer that stops reading makes the daemon hold everything the other one sends (issue 15: 1 GB
 * sent at a stalled upstream grew the daemon to 1.5 GB). What one bridge holds is then bounded by the high-water
 * mark, plus what was already read when the pause came (one socket read, at most one message), per direction.
 *
 * On a route with several backends the socket opens on the one the balancer picks (another if that one refuses
 * the connection) and stays there: the bridge is one upstream socket, counted in flight on its backend while open.
 * An upstream that answers the upgrade with anything but 101 has its answer passed on (upgrade-answer.ts).
 */
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import { isLoopbackAddress } from "../core/local-host.ts";
import type { Backend, BackendTarget, Balancer } from "./balancer.ts";
import { type ForwardContext, pathOf } from "./forward.ts";
import { routeRequestHeaders } from "./headers.ts";
import { badGatewayPage } from "./pages.ts";
import type { ProxyRoute } from "./router.ts";
import { refusedUpgrade } from "./upgrade-refusal.ts";

export interface BridgeData {
  upstream: WebSocket;
  /** The backend the socket is open on, for a route with several; null once the bridge ended (or with one). */
  backend: Backend | null;
  /** Messages the upstream sent before the client side finished opening. */
  pending: (string | ArrayBuffer)[] | null;
  client: ServerWebSocket<BridgeData> | null;
  /** Polls the upstream's send buffer while the client is paused (Bun's client WebSocket has no drain event). */
  drainPoll: ReturnType<typeof setInterval> | null;
}

const UPSTREAM_OPEN_TIMEOUT_MS = 10_000;
/** Handshake headers that belong to one WebSocket connection, not to the bridged one (RFC 6455 §4.1). */
const HANDSHAKE_HEADERS = [
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "sec-websocket-protocol",
];
/** The largest message either side may send; larger ones close the bridge with 1009 (RFC 6455 §7.4.1). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Bytes queued toward one peer before the bridge stops reading the other one. */
export const HIGH_WATER_BYTES = 1024 * 1024;
/** The client is read again once the upstream's send buffer is down to this. */
const LOW_WATER_BYTES = 256 * 1024;
/** How often a paused client checks whether the upstream took its backlog. */
const DRAIN_POLL_MS = 10;

export function isWebSocketUpgrade(req: Request): boolean {
  const upgrade = req.headers.get("upgrade");
  return upgrade !== null && upgrade.toLowerCase() === "websocket";
}

/** The handshake headers toward the upstream: the same as a request to this route gets (forward.ts). */
function upstreamHeaders(req: Request, route: ProxyRoute, ctx: ForwardContext): Record<string, string> {
  const headers: Record<string, string> = {};
  // Origin rewrite included: Next's HMR socket needs it.
  for (const [name, value] of routeRequestHeaders(req.headers, ctx, route, pathOf(req.url))) {
    if (!HANDSHAKE_HEADERS.includes(name)) headers[name] = headers[name] ? `${headers[name]}, ${value}` : value;
  }
  return headers;
}

function openUpstream(req: Request, target: BackendTarget, headers: Record<string, string>): Promise<WebSocket> {
  const scheme = target.protocol === "https:" ? "wss:" : "ws:";
  const url = `${scheme}//${target.hostname.includes(":") ? `[${target.hostname}]` : target.hostname}:${target.port}${pathOf(req.url)}`;
  const protocols = (req.headers.get("sec-websocket-protocol") ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  const socket = new WebSocket(url, { headers, protocols } as unknown as string[]);
  socket.binaryType = "arraybuffer";
  // Nothing reads the upstream until the client side is open (bridgeHandlers.open resumes it).
  socket.pause();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(Object.assign(new Error("WebSocket upstream did not open in time"), { kind: "timeout" }));
    }, UPSTREAM_OPEN_TIMEOUT_MS);
    socket.addEventListener("open", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.addEventListener("error", () => {
      clearTimeout(timer);
      reject(Object.assign(new Error("WebSocket upstream refused the connection"), { kind: "refused" }));
    });
  });
}

/**
 * Opens the upstream socket (on a backend the balancer picks, when the route has several), then upgrades the
 * client. Returns no response when the client was upgraded; otherwise the response to send instead (the upstream's
 * own refusal, or our 502) and, for the request log, what went wrong.
 */
export async function bridgeWebSocket(
  req: Request,
  server: Server<BridgeData>,
  route: ProxyRoute,
  ctx: ForwardContext,
  balancer?: Balancer,
): Promise<{ response?: Response; error?: unknown }> {
  const opened = await openOnBackend(req, route, ctx, balancer);
  if ("response" in opened) return opened;
  const { upstream, backend } = opened;
  if (backend) {
    balancer?.succeeded(backend);
    backend.inFlight++;
    backend.requests++;
  }
  const data: BridgeData = { upstream, backend, pending: [], client: null, drainPoll: null };
  upstream.addEventListener("message", (event) => {
    const message = event.data as string | ArrayBuffer;
    if (data.client) toClient(data.client, message);
    else data.pending?.push(message);
  });
  upstream.addEventListener("close", (event) => closeClient(data, event.code, event.reason));
  const chosen = upstream.protocol ? { "sec-websocket-protocol": upstream.protocol } : undefined;
  if (server.upgrade(req, { data, headers: chosen })) return {};
  releaseBackend(data);
  upstream.close();
  return { response: new Response("WebSocket upgrade failed", { status: 400 }) };
}

/**
 * The upstream socket, on the route's target or on a backend the balancer picks (the next one when one refuses:
 * an upgrade has no body, so trying again is safe); or, when none opens, the client's answer and the error.
 */
async function openOnBackend(
  req: Request,
  route: ProxyRoute,
  ctx: ForwardContext,
  balancer: Balancer | undefined,
): Promise<{ upstream: WebSocket; backend: Backend | null } | { response: Response; error: unknown }> {
  const headers = upstreamHeaders(req, route, ctx);
  let tried = 0;
  for (;;) {
    const backend = balancer ? (balancer.pick(tried) as Backend) : null;
    const target = backend ? backend.target : route.target;
    try {
      return { upstream: await openUpstream(req, target, headers), backend };
    } catch (error) {
      // A socket that did not open in time will not answer a second handshake either.
      const timedOut = (error as { kind?: string }).kind === "timeout";
      const refusal = timedOut ? undefined : await refusedUpgrade(req, route, target, headers);
      if (refusal) return refusal;
      const message = (error as Error).message;
      if (backend && balancer) {
        balancer.failed(backend, message);
        tried |= backend.bit;
        if (balancer.hasUntried(tried)) continue;
      }
      return { response: badGatewayPage(req, route, message, isLoopbackAddress(ctx.clientIp), target), error };
    }
  }
}

/** The bridge ended (either side closed): its backend has one socket less in flight. */
function releaseBackend(data: BridgeData): void {
  if (data.backend === null) return;
  data.backend.inFlight--;
  data.backend = null;
}

/**
 * Bun's send() returns -1 when the message was queued behind others (backpressure) and 0 when it was dropped
 * (past `backpressureLimit`, which closeOnBackpressureLimit turns into a close). On -1 the upstream waits for the
 * client's drain.
 */
function toClient(client: ServerWebSocket<BridgeData>, message: string | ArrayBuffer): void {
  if (client.send(message) === -1) client.data.upstream.pause();
}

/** Sends toward the upstream; past the high-water mark, stops reading the client until the upstream catches up. */
function toUpstream(ws: ServerWebSocket<BridgeData>, message: string | Buffer): void {
  const data = ws.data;
  const upstream = data.upstream;
  if (upstream.readyState !== WebSocket.OPEN) return;
  upstream.send(message);
  if (upstream.bufferedAmount <= HIGH_WATER_BYTES || data.drainPoll !== null) return;
  ws.pause();
  data.drainPoll = setInterval(() => {
    if (upstream.readyState === WebSocket.OPEN && upstream.bufferedAmount > LOW_WATER_BYTES) return;
    stopDrainPoll(data);
    if (ws.readyState === WebSocket.OPEN) ws.resume();
  }, DRAIN_POLL_MS);
}

function stopDrainPoll(data: BridgeData): void {
  if (data.drainPoll === null) return;
  clearInterval(data.drainPoll);
  data.drainPoll = null;
}

/** 1005 and 1006 may not be sent in a Close frame (RFC 6455 §7.4.1): relay them as "no code" and "abnormal". */
function closeClient(data: BridgeData, code: number, reason: string) {
  stopDrainPoll(data);
  releaseBackend(data);
  const client = data.client;
  if (!client) {
    data.pending = null;
    return;
  }
  if (code === 1006) client.terminate();
  else if (code === 1005 || code < 1000) client.close();
  else client.close(code, reason);
}

export const bridgeHandlers: WebSocketHandler<BridgeData> = {
  open(ws) {
    const data = ws.data;
    data.client = ws;
    const pending = data.pending;
    data.pending = null;
    if (pending) for (const message of pending) toClient(ws, message);
    if (data.upstream.readyState >= WebSocket.CLOSING) ws.close();
    else if (ws.getBufferedAmount() === 0) data.upstream.resume();
  },
  message(ws, message) {
    toUpstream(ws, message);
  },
  drain(ws) {
    const upstream = ws.data.upstream;
    if (upstream.readyState === WebSocket.OPEN) upstream.resume();
  },
  close(ws, code, reason) {
    stopDrainPoll(ws.data);
    releaseBackend(ws.data);
    const upstream = ws.data.upstream;
    if (upstream.readyState >= WebSocket.CLOSING) return;
    if (code === 1005 || code === 1006 || code < 1000) upstream.close();
    else upstream.close(code, reason);
  },
  // Dev-server traffic (HMR) is small; a large idle timeout keeps quiet sockets open like a direct connection would.
  idleTimeout: 960,
  maxPayloadLength: MAX_MESSAGE_BYTES,
  // Room for one more largest message after the upstream was paused, so a message is never dropped for backpressure
  // alone; should the limit still be passed, the client is closed rather than silently missing a message.
  backpressureLimit: MAX_MESSAGE_BYTES + HIGH_WATER_BYTES,
  closeOnBackpressureLimit: true,
};
