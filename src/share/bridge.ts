/**
 * The loopback bridge for tools whose proxy forwards the public Host (Tailscale Serve and Funnel): plain HTTP on
 * 127.0.0.1, each request forwarded to gotunnel's HTTPS listener with the route's name as Host and TLS server name,
 * verified against gotunnel's CA, so the daemon and the dev server behind it see the request as they would from a
 * browser on this machine. The public name stays in X-Forwarded-Host, which the tool sets. WebSockets (HMR) are
 * bridged message by message.
 */
import type { ServerWebSocket } from "bun";

export interface BridgeOptions {
  name: string;
  httpsPort: number;
  caPem: string;
}

export interface Bridge {
  port: number;
  stop(): Promise<void>;
}

/** RFC 9110 §7.6.1: connection-specific fields are not forwarded. */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"];

function forwardHeaders(from: Headers, name?: string): Headers {
  const headers = new Headers(from);
  for (const field of HOP_BY_HOP) headers.delete(field);
  if (name) headers.set("host", name);
  return headers;
}

interface Socket {
  upstream?: WebSocket;
  /** Messages from the client that arrived before the upstream socket opened. */
  queued: (string | Uint8Array)[];
  path: string;
  protocols: string[];
  headers: Headers;
}

export function startBridge({ name, httpsPort, caPem }: BridgeOptions): Bridge {
  const origin = `https://127.0.0.1:${httpsPort}`;
  const tls = { ca: caPem, serverName: name };
  const server = Bun.serve<Socket>({
    hostname: "127.0.0.1",
    port: 0,
    // Long polls and streamed responses must not be cut by the bridge (the daemon applies its own limits).
    idleTimeout: 0,
    async fetch(req, srv) {
      const url = new URL(req.url);
      const path = `${url.pathname}${url.search}`;
      if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
        const protocols = (req.headers.get("sec-websocket-protocol") ?? "")
          .split(",")
          .map((p) => p.trim())
          .filter(Boolean);
        const headers = forwardHeaders(req.headers, name);
        for (const field of [
          "sec-websocket-key",
          "sec-websocket-version",
          "sec-websocket-extensions",
          "sec-websocket-protocol",
        ])
          headers.delete(field);
        if (srv.upgrade(req, { data: { queued: [], path, protocols, headers } })) return undefined;
        return new Response("WebSocket upgrade failed", { status: 400 });
      }
      const response = await fetch(`${origin}${path}`, {
        method: req.method,
        headers: forwardHeaders(req.headers, name),
        body: req.body,
        redirect: "manual",
        decompress: false,
        tls,
      });
      return new Response(response.body, {
        status: response.status,
        statusText: response.statusText,
        headers: forwardHeaders(response.headers),
      });
    },
    websocket: {
      open(ws: ServerWebSocket<Socket>) {
        const { path, protocols, headers } = ws.data;
        const upstream = new WebSocket(`wss://127.0.0.1:${httpsPort}${path}`, {
          headers: Object.fromEntries(headers),
          protocols,
          tls,
        });
        upstream.binaryType = "arraybuffer";
        ws.data.upstream = upstream;
        upstream.onopen = () => {
          for (const message of ws.data.queued.splice(0)) upstream.send(message);
        };
        upstream.onmessage = (event) => {
          ws.send(typeof event.data === "string" ? event.data : new Uint8Array(event.data as ArrayBuffer));
        };
        upstream.onclose = (event) => ws.close(event.code === 1005 ? 1000 : event.code, event.reason);
        upstream.onerror = () => ws.close(1011, "upstream error");
      },
      message(ws, message) {
        const upstream = ws.data.upstream;
        if (upstream?.readyState === WebSocket.OPEN) upstream.send(message);
        else ws.data.queued.push(message);
      },
      close(ws, code, reason) {
        ws.data.upstream?.close(code === 1005 ? 1000 : code, reason);
      },
    },
  });
  return { port: server.port ?? 0, stop: () => server.stop(true) };
}
