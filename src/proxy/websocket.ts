/**
 * WebSocket bridge: the proxy first opens the upstream socket, then upgrades the client with the subprotocol the
 * upstream chose (so Vite's `vite-hmr` and Next's HMR negotiate as if direct). Messages flow both ways unchanged
 * (text stays text, binary stays binary) and close codes are relayed.
 */
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import { type ForwardContext, pathOf } from "./forward.ts";
import { upstreamRequestHeaders } from "./headers.ts";
import { badGatewayPage } from "./pages.ts";
import type { ProxyRoute } from "./router.ts";

export interface BridgeData {
  upstream: WebSocket;
  /** Messages the upstream sent before the client side finished opening. */
  pending: (string | ArrayBuffer)[] | null;
  client: ServerWebSocket<BridgeData> | null;
}

const UPSTREAM_OPEN_TIMEOUT_MS = 10_000;
/** Handshake headers that belong to one WebSocket connection, not to the bridged one (RFC 6455 §4.1). */
const HANDSHAKE_HEADERS = [
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "sec-websocket-protocol",
];

export function isWebSocketUpgrade(req: Request): boolean {
  const upgrade = req.headers.get("upgrade");
  return upgrade !== null && upgrade.toLowerCase() === "websocket";
}

function openUpstream(req: Request, route: ProxyRoute, ctx: ForwardContext): Promise<WebSocket> {
  const target = route.target;
  const scheme = target.protocol === "https:" ? "wss:" : "ws:";
  const url = `${scheme}//${target.hostname.includes(":") ? `[${target.hostname}]` : target.hostname}:${target.port}${pathOf(req.url)}`;
  const headers: Record<string, string> = {};
  const upstreamHost = route.preserveHost ? ctx.host : `${target.hostname}:${target.port}`;
  for (const [name, value] of upstreamRequestHeaders(req.headers, ctx, upstreamHost, route.headers)) {
    if (!HANDSHAKE_HEADERS.includes(name)) headers[name] = headers[name] ? `${headers[name]}, ${value}` : value;
  }
  const protocols = (req.headers.get("sec-websocket-protocol") ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  const socket = new WebSocket(url, { headers, protocols } as unknown as string[]);
  socket.binaryType = "arraybuffer";
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

/** Returns undefined when the client was upgraded, or an error Response (502) to send instead. */
export async function bridgeWebSocket(
  req: Request,
  server: Server<BridgeData>,
  route: ProxyRoute,
  ctx: ForwardContext,
): Promise<Response | undefined> {
  let upstream: WebSocket;
  try {
    upstream = await openUpstream(req, route, ctx);
  } catch (error) {
    return badGatewayPage(req, route, (error as Error).message);
  }
  const data: BridgeData = { upstream, pending: [], client: null };
  upstream.addEventListener("message", (event) => {
    const message = event.data as string | ArrayBuffer;
    if (data.client) data.client.send(message);
    else data.pending?.push(message);
  });
  upstream.addEventListener("close", (event) => closeClient(data, event.code, event.reason));
  const headers = upstream.protocol ? { "sec-websocket-protocol": upstream.protocol } : undefined;
  if (server.upgrade(req, { data, headers })) return undefined;
  upstream.close();
  return new Response("WebSocket upgrade failed", { status: 400 });
}

/** 1005 and 1006 may not be sent in a Close frame (RFC 6455 §7.4.1): relay them as "no code" and "abnormal". */
function closeClient(data: BridgeData, code: number, reason: string) {
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
    ws.data.client = ws;
    const pending = ws.data.pending;
    ws.data.pending = null;
    if (pending) for (const message of pending) ws.send(message);
    if (ws.data.upstream.readyState >= WebSocket.CLOSING) ws.close();
  },
  message(ws, message) {
    if (ws.data.upstream.readyState === WebSocket.OPEN) ws.data.upstream.send(message);
  },
  close(ws, code, reason) {
    const upstream = ws.data.upstream;
    if (upstream.readyState >= WebSocket.CLOSING) return;
    if (code === 1005 || code === 1006 || code < 1000) upstream.close();
    else upstream.close(code, reason);
  },
  // Dev-server traffic (HMR) is small; a large idle timeout keeps quiet sockets open like a direct connection would.
  idleTimeout: 960,
  maxPayloadLength: 64 * 1024 * 1024,
};
