/**
 * Bun.serve wiring: the HTTPS listener (one SNI entry per route), the HTTP listener (redirects, or serves routes with
 * `https: false`), and the listener swap that changes certificates without dropping requests. The only file in
 * src/proxy that touches sockets.
 */
import type { Server } from "bun";
import { type ForwardContext, forward, pathOf, type Upstream } from "./forward.ts";
import { isLoop } from "./headers.ts";
import { bindError, probeExclusive } from "./listen-errors.ts";
import { loopPage, notFoundPage, redirectToHttps } from "./pages.ts";
import { type ProxyRoute, Router, routeUrl } from "./router.ts";
import { type BridgeData, bridgeHandlers, bridgeWebSocket, isWebSocketUpgrade } from "./websocket.ts";

export interface TlsEntry {
  serverName: string;
  cert: string;
  key: string;
}

export interface RequestEvent {
  method: string;
  host: string;
  path: string;
  status: number;
  /** Time to response headers, in milliseconds. */
  durationMs: number;
  route: string | undefined;
  /** Set when the upstream failed (the client got a 502). */
  error: unknown;
}

export interface ProxyServerOptions {
  host: string;
  httpsPort: number;
  /** null: no plain-HTTP listener. */
  httpPort: number | null;
  routes: readonly ProxyRoute[];
  /** SNI entries; the FIRST is served for unknown names (DESIGN.md), so put the default certificate first. */
  tls: TlsEntry[];
  upstream: Upstream;
  onRequest?: (event: RequestEvent) => void;
}

type Proto = "http" | "https";
const VIA_ID = Math.floor(Math.random() * 0xffffffff)
  .toString(16)
  .padStart(8, "0");

export class ProxyServer {
  private router: Router;
  private https: Server<BridgeData> | undefined;
  private http: Server<BridgeData> | undefined;
  private readonly viaToken = `1.1 gotunnel-${VIA_ID}`;

  private constructor(private readonly options: ProxyServerOptions) {
    this.router = new Router(options.routes);
  }

  static async listen(options: ProxyServerOptions): Promise<ProxyServer> {
    const proxy = new ProxyServer(options);
    // reusePort (needed for the listener swap) would let us share a port silently with another process: check first.
    await probeExclusive(options.host, options.httpsPort, "https");
    if (options.httpPort !== null) await probeExclusive(options.host, options.httpPort, "http");
    proxy.https = proxy.serve("https", options.httpsPort, options.tls);
    if (options.httpPort !== null) {
      try {
        proxy.http = proxy.serve("http", options.httpPort, undefined);
      } catch (error) {
        proxy.https.stop(true);
        throw error;
      }
    }
    return proxy;
  }

  get ports(): { https: number; http: number } {
    return { https: this.https?.port ?? 0, http: this.http?.port ?? 0 };
  }

  get routes(): readonly ProxyRoute[] {
    return this.router.routes;
  }

  urlOf(route: ProxyRoute): string {
    return routeUrl(route, this.ports);
  }

  /**
   * Replaces the routes. New certificates need a new listener (Bun's `reload` keeps the old TLS set, DESIGN.md): we
   * bind a second server to the same port with reusePort, then stop the old one, which lets in-flight requests finish.
   */
  async update(routes: readonly ProxyRoute[], tls: TlsEntry[] | undefined): Promise<void> {
    this.router = new Router(routes);
    if (!tls || !this.https) return;
    const old = this.https;
    this.https = this.serve("https", old.port ?? this.options.httpsPort, tls);
    await old.stop(false);
  }

  /** Stops accepting; in-flight requests finish unless `force`. */
  async stop(force = false): Promise<void> {
    await Promise.all([this.https?.stop(force), this.http?.stop(force)]);
  }

  private serve(proto: Proto, port: number, tls: TlsEntry[] | undefined): Server<BridgeData> {
    try {
      return Bun.serve<BridgeData>({
        hostname: this.options.host,
        port,
        reusePort: true,
        tls,
        // Dev servers stream (SSE, long polls, slow builds): never cut a quiet connection (DESIGN.md).
        idleTimeout: 0,
        maxRequestBodySize: Number.MAX_SAFE_INTEGER,
        development: false,
        fetch: (req, server) => this.handle(req, server, proto),
        websocket: bridgeHandlers,
        error: (error) => {
          console.error(error);
          return new Response("gotunnel: internal error", { status: 500 });
        },
      });
    } catch (error) {
      throw bindError(error, this.options.host, port, proto);
    }
  }

  private async handle(req: Request, server: Server<BridgeData>, proto: Proto): Promise<Response | undefined> {
    const started = performance.now();
    const host = req.headers.get("host") ?? "";
    const route = this.router.match(host);
    let response: Response | undefined;
    let error: unknown;
    if (!route) {
      response = notFoundPage(req, host, { routes: this.router.routes, urlOf: (r) => this.urlOf(r) });
    } else if (proto === "http" && route.https) {
      response = redirectToHttps(req, host, this.ports.https);
    } else if (isLoop(req.headers, this.viaToken)) {
      response = loopPage(req, route);
    } else {
      const ctx = this.context(req, server, host, proto);
      if (isWebSocketUpgrade(req)) {
        response = await bridgeWebSocket(req, server, route, ctx);
      } else {
        ({ response, error } = await forward(req, route, ctx, this.options.upstream));
      }
    }
    const onRequest = this.options.onRequest;
    if (onRequest) {
      onRequest({
        method: req.method,
        host,
        path: pathOf(req.url),
        status: response ? response.status : 101,
        durationMs: performance.now() - started,
        route: route?.name,
        error,
      });
    }
    return response;
  }

  private context(req: Request, server: Server<BridgeData>, host: string, proto: Proto): ForwardContext {
    const connection = req.headers.get("connection");
    return {
      host,
      clientIp: server.requestIP(req)?.address ?? "127.0.0.1",
      proto,
      port: server.port ?? 0,
      via: this.viaToken,
      clientClose: connection !== null && connection.toLowerCase().includes("close"),
    };
  }
}
