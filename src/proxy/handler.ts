/**
 * What the proxy does with one request, whatever listener it came in on: the LAN policy and gotunnel's own pages
 * first, then a WebSocket bridge or forward() under the client timeouts, then the request event. server.ts owns the
 * listeners and hands every request here; what changes with a route update or a swap is read through ProxyState.
 */
import type { Server } from "bun";
import { isLoopbackAddress } from "../core/local-host.ts";
import type { Balancers } from "./balancers.ts";
import { type Capture, capturingUpstream } from "./capture.ts";
import { isClientBodyTimeout } from "./client-body.ts";
import { drainBody } from "./drain.ts";
import { type ForwardContext, forward, pathOf, type Upstream } from "./forward.ts";
import { isLoop } from "./headers.ts";
import { lanForbiddenPage, loopPage, notFoundPage, redirectToHttps, requestTimeoutPage } from "./pages.ts";
import { normalizeHost, type ProxyRoute, type Router } from "./router.ts";
import type { ProxyServerOptions, Site } from "./server.ts";
import { type BridgeData, bridgeWebSocket, isWebSocketUpgrade } from "./websocket.ts";

export type Proto = "http" | "https";

/** performance.now() is relative to this; read once (it is a getter). */
const TIME_ORIGIN = performance.timeOrigin;

/** What the handler reads from the proxy at each request. */
export interface ProxyState {
  router(): Router;
  ports(): { https: number; http: number };
  urlOf(route: ProxyRoute): string;
  /** Notes a request on `server` (server.ts retire); true, and counted, when it is being retired: its answers then say `Connection: close`. */
  noteRequest(server: Server<BridgeData>): boolean;
}

export interface HandlerOptions {
  proxy: ProxyServerOptions;
  state: ProxyState;
  /** The upstream seam, with request bodies read under the client body timeout (client-body.ts). */
  upstream: Upstream;
  /** The routes with several backends: their own upstream seam (balanced-upstream.ts) wraps `upstream`. */
  balancers: Balancers;
  /** The listeners' idleTimeout, in seconds (0: none), turned off while a forwarded response is under way. */
  keepAliveS: number;
  /** Our `Via` token, which also detects loops back into this proxy. */
  viaToken: string;
}

export class RequestHandler {
  private readonly options: ProxyServerOptions;
  private readonly state: ProxyState;
  private readonly upstream: Upstream;
  private readonly balancers: Balancers;
  private readonly keepAliveS: number;
  private readonly viaToken: string;

  constructor(options: HandlerOptions) {
    this.options = options.proxy;
    this.state = options.state;
    this.upstream = options.upstream;
    this.balancers = options.balancers;
    this.keepAliveS = options.keepAliveS;
    this.viaToken = options.viaToken;
  }

  async handle(req: Request, server: Server<BridgeData>, proto: Proto): Promise<Response | undefined> {
    const started = performance.now();
    const host = req.headers.get("host") ?? "";
    const site = this.options.site;
    if (site !== undefined && host.startsWith(site.host) && normalizeHost(host) === site.host)
      return this.sitePage(site, req, server, proto, host);
    const path = pathOf(req.url);
    const route = this.state.router().match(host);
    const close = this.shouldClose(req, server);
    // One requestIP call per request: it is a native call that allocates (about 3% of the request path).
    const ip = clientIpOf(req, server);
    let capture: Capture | undefined;
    let response = this.earlyPage(req, ip, host, route, proto) ?? this.ownPage(req, ip, host, route, proto);
    let error: unknown;
    let ctx: ForwardContext | undefined;
    if (response) {
      // Our pages are fresh, mutable Responses; forward() does the same for upstream ones (Bun does not, DESIGN.md).
      if (close) response.headers.set("connection", "close");
    } else if (route) {
      ctx = this.context(ip, server, host, proto, close, path, started);
      if (isWebSocketUpgrade(req)) {
        ({ response, error } = await bridgeWebSocket(req, server, route, ctx, this.balancers.get(route)?.balancer));
      } else {
        capture = this.options.captures?.(route) ? { request: undefined, response: undefined } : undefined;
        ({ response, error } = await this.forward(req, server, route, ctx, capture));
      }
    }
    const onRequest = this.options.onRequest;
    if (onRequest) {
      onRequest({
        method: req.method,
        host,
        path,
        status: response ? response.status : 101,
        durationMs: performance.now() - started,
        route: route?.name,
        error,
        traceparent: ctx?.traceparent,
        requestHeaders: req.headers,
        responseHeaders: response?.headers,
        responseLength: response?.headers.get("content-length"),
        capture,
      });
    }
    // An answer of ours to a request whose body nobody read (not a 408: that client stopped sending).
    if (response && response.status >= 300 && response.status !== 408 && !req.bodyUsed && !(await drainBody(req)))
      response.headers.set("connection", "close");
    return response;
  }

  /**
   * forward(), with the connection's keep-alive timer off until the response is over (see serve), and a 408 that
   * closes the connection when the client stopped sending its body. A client timeout is not an upstream failure.
   */
  private async forward(
    req: Request,
    server: Server<BridgeData>,
    route: ProxyRoute,
    ctx: ForwardContext,
    capture: Capture | undefined,
  ) {
    const keepAliveS = this.keepAliveS;
    if (keepAliveS > 0) {
      server.timeout(req, 0);
      ctx.onResponseEnd = () => server.timeout(req, keepAliveS);
    }
    const base = this.balancers.get(route)?.upstream ?? this.upstream;
    const upstream = capture ? capturingUpstream(base, capture) : base;
    const forwarded = await forward(req, route, ctx, upstream, this.options.tracing);
    if (forwarded.error === undefined) return forwarded;
    if (keepAliveS > 0) server.timeout(req, keepAliveS);
    if (!isClientBodyTimeout(forwarded.error)) return forwarded;
    return { response: requestTimeoutPage(req, route), error: undefined };
  }

  /**
   * gotunnel's own site (the dashboard): over HTTPS its handler, which checks the client itself; over plain HTTP a
   * redirect to it. Not a request event: the dashboard's own traffic would flood the list it shows.
   */
  private async sitePage(site: Site, req: Request, server: Server<BridgeData>, proto: Proto, host: string) {
    if (proto === "http") return redirectToHttps(req, host, this.state.ports().https);
    const client = { ip: clientIpOf(req, server), keepOpen: () => server.timeout(req, 0) };
    const response = await site.serve(req, client);
    if (this.shouldClose(req, server)) response.headers.set("connection", "close");
    return response;
  }

  /** The LAN policy's 403 or an httpPages answer: both come before routing, for any Host. */
  private earlyPage(
    req: Request,
    ip: string,
    host: string,
    route: ProxyRoute | undefined,
    proto: Proto,
  ): Response | undefined {
    const { httpPages, isAllowed } = this.options;
    const pages = proto === "http" && httpPages ? httpPages(req) : undefined;
    if (pages) return isAllowed && !isAllowed(undefined, ip) ? lanForbiddenPage(req, host, undefined) : pages;
    if (isAllowed && !isAllowed(route, ip)) return lanForbiddenPage(req, host, route);
    return undefined;
  }

  /** 404, the HTTPS redirect or 508, when the request is not one to forward. */
  private ownPage(
    req: Request,
    ip: string,
    host: string,
    route: ProxyRoute | undefined,
    proto: Proto,
  ): Response | undefined {
    if (!route) {
      this.options.onNoRoute?.(host, ip);
      const loopbackClient = isLoopbackAddress(ip);
      return notFoundPage(req, host, {
        routes: this.state.router().routes,
        urlOf: (r) => this.state.urlOf(r),
        loopbackClient,
      });
    }
    // Loop first: an HTTPS route whose target is our own HTTP port would otherwise redirect to itself forever.
    if (isLoop(req.headers, this.viaToken)) return loopPage(req, route, isLoopbackAddress(ip));
    if (proto === "http" && route.https) return redirectToHttps(req, host, this.state.ports().https);
    return undefined;
  }

  /** The client asked to close, or this listener is being retired (server.ts retire). */
  private shouldClose(req: Request, server: Server<BridgeData>): boolean {
    return this.state.noteRequest(server) || asksToClose(req);
  }

  private context(
    clientIp: string,
    server: Server<BridgeData>,
    host: string,
    proto: Proto,
    close: boolean,
    path: string,
    started: number,
  ): ForwardContext {
    return {
      host,
      clientIp,
      proto,
      port: server.port ?? 0,
      via: this.viaToken,
      clientClose: close,
      path,
      parentSpanId: undefined,
      traceparent: undefined,
      spanStartMs: TIME_ORIGIN + started,
      onResponseEnd: undefined,
    };
  }
}

/** Bun has no peer address for some sockets (a unix socket): those are local by construction. */
function clientIpOf(req: Request, server: Server<BridgeData>): string {
  return server.requestIP(req)?.address ?? "127.0.0.1";
}

function asksToClose(req: Request): boolean {
  return req.headers.get("connection")?.toLowerCase().includes("close") === true;
}
