/**
 * Bun.serve wiring: the HTTPS listener (one SNI entry per route), the HTTP listener (redirects, or serves routes with
 * `https: false`), and the listener swap that changes certificates or the bind address without dropping requests.
 * The only file in src/proxy that touches sockets.
 */
import type { Server, WebSocketHandler } from "bun";
import { Balancers, type HealthCheck, type RouteBackends } from "./balancers.ts";
import type { Capture } from "./capture.ts";
import { withClientBodyTimeout } from "./client-body.ts";
import type { RequestTracing, Upstream } from "./forward.ts";
import { type Proto, RequestHandler } from "./handler.ts";
import { assertDistinctPorts, bindError, probeExclusive } from "./listen-errors.ts";
import { type ProxyRoute, Router, routeUrl } from "./router.ts";
import { type BridgeData, bridgeHandlers } from "./websocket.ts";

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
  /**
   * The request's span when it was traced: our version-00 `traceparent`, whose ids (trace-context.ts traceIdOf,
   * spanIdOf) let its log line be found in the trace. Kept whole so the request path cuts no strings for it.
   */
  traceparent?: string;
  /**
   * The client's request fields and our answer's, for the dashboard's request detail: references to objects the
   * request made anyway, read only when someone looks (no copy on the request path).
   */
  requestHeaders?: Headers;
  responseHeaders?: Headers;
  /**
   * The response's Content-Length as sent, read before the response goes out: Bun.serve removes the field from a
   * Response's Headers once it has sent it (CONTRIBUTING.md, Bun facts). Absent for a stream of unknown length.
   */
  responseLength?: string | null;
  /** The bodies, when the route's capture is on (capture.ts). */
  capture?: Capture;
}

/** What a site's handler knows of the client besides its request. */
export interface SiteClient {
  ip: string;
  /** Turns the listener's idle timeout off for this request: for a stream (SSE) that stays open. */
  keepOpen(): void;
}

/** gotunnel's own site on the HTTPS listener (the dashboard), served for its one Host name before any route. */
export interface Site {
  /** Lower case, no port: `gotunnel.localhost`. */
  host: string;
  serve(req: Request, client: SiteClient): Response | Promise<Response>;
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
  /**
   * Pages served on the plain-HTTP listener for any Host, before routing (the daemon mounts device onboarding
   * here: a phone that does not trust our CA yet can only use HTTP). Undefined: not one of its paths.
   */
  httpPages?: (req: Request) => Response | undefined;
  /**
   * A request for `host` (its Host value) from `clientIp` matched no route and got the 404 page. Called off the
   * forwarding path; the daemon may issue the name a certificate (daemon/on-demand.ts).
   */
  onNoRoute?: (host: string, clientIp: string) => void;
  /** A request threw inside the proxy and got our 500 (the daemon reports it, e.g. to Sentry). */
  onError?: (error: unknown) => void;
  /**
   * Whether `clientIp` may use `route` (undefined: no route, e.g. httpPages or the 404 page). Refused requests get
   * a 403 naming the route's `lan` setting. Default: everyone may.
   */
  isAllowed?: (route: ProxyRoute | undefined, clientIp: string) => boolean;
  /** Server spans for forwarded requests; absent (no OTLP endpoint): the request path does no tracing work. */
  tracing?: RequestTracing;
  /** How long clients may idle; absent: forever (the daemon passes the config's, see ClientTimeouts). */
  timeouts?: ClientTimeouts;
  /**
   * Offer h2 next to http/1.1 by ALPN on the HTTPS listener (RFC 9113 §3.2); absent or false: HTTP/1.1 only. The
   * plain-HTTP listener never speaks h2: no browser does h2 without TLS, so cleartext h2 ("prior knowledge", RFC 9113
   * §3.3) would serve only tools like curl and h2load, and gRPC, its other user, needs trailers we cannot forward.
   */
  http2?: boolean;
  /**
   * Served on the HTTPS listener for `site.host` (the plain-HTTP listener redirects there); its requests are not
   * request events. The daemon puts a certificate for the name in `tls`.
   */
  site?: Site;
  /** Whether `route`'s bodies are captured now (capture.ts); absent: never. Asked once per forwarded request. */
  captures?: (route: ProxyRoute) => boolean;
  /** The active check of routes with several backends and `health` (balancers.ts); absent: passive health only. */
  healthCheck?: HealthCheck;
}

/**
 * Client timeouts. `keepAliveS` (whole seconds, at most 255, Bun's limit) closes a connection idle between requests;
 * Bun checks its timers every 4 s, so the close comes up to 4 s early or late. `clientBodyMs` bounds the wait for
 * the next piece of a request body (client-body.ts). 0 turns either off. Request headers are Bun's business: it
 * closes a new connection whose first request head is not in within 10 s, and cannot be told otherwise.
 */
export interface ClientTimeouts {
  keepAliveS: number;
  clientBodyMs: number;
}

interface Listeners {
  https: Server<BridgeData>;
  /** Absent when the proxy has no plain-HTTP listener (httpPort null). */
  http: Server<BridgeData> | undefined;
}
/** update() polls a replaced listener this often, at most this many times, for its keep-alive traffic to stop. */
const DRAIN_POLL_MS = 50;
const MAX_DRAIN_POLLS = 40;
/** Polls in a row without a new request on the replaced listener before it is stopped. */
const QUIET_POLLS = 3;
const VIA_ID = Math.floor(Math.random() * 0xffffffff)
  .toString(16)
  .padStart(8, "0");

export class ProxyServer {
  private router: Router;
  /** The HTTPS and HTTP listener on each address, in bind order; update() may add or retire addresses. */
  private readonly listeners = new Map<string, Listeners>();
  /** The SNI entries the HTTPS listeners serve, for a new address when the certificates do not change. */
  private tls: TlsEntry[];
  private readonly viaToken = `1.1 gotunnel-${VIA_ID}`;
  /** Replaced or retired listeners → requests served since; each answer says `Connection: close` (see retire). */
  private readonly draining = new Map<Server<BridgeData>, number>();
  /** The retire() of every listener still draining (apply). */
  private readonly retirements = new Set<Promise<void>>();
  /** When each listener last took a request (performance.now() ms): a swap need not wait out a quiet it has seen. */
  private readonly lastRequestAt = new Map<Server<BridgeData>, number>();

  private openWebSockets = 0;
  private readonly handler: RequestHandler;
  private readonly keepAliveS: number;
  /** The routes with several backends (balancers.ts), synced with the router. */
  private readonly balancers: Balancers;
  /** The bridge's handlers, counting open sockets: Bun calls close() once for every socket it opened. */
  private readonly webSocketHandlers: WebSocketHandler<BridgeData> = {
    ...bridgeHandlers,
    open: (ws) => {
      this.openWebSockets++;
      bridgeHandlers.open?.(ws);
    },
    close: (ws, code, reason) => {
      this.openWebSockets--;
      bridgeHandlers.close?.(ws, code, reason);
    },
  };

  private constructor(private readonly options: ProxyServerOptions) {
    this.router = new Router(options.routes);
    this.tls = options.tls;
    this.keepAliveS = options.timeouts?.keepAliveS ?? 0;
    const upstream = withClientBodyTimeout(options.upstream, options.timeouts?.clientBodyMs ?? 0);
    this.balancers = new Balancers(upstream, options.healthCheck);
    this.balancers.sync(options.routes);
    this.handler = new RequestHandler({
      proxy: options,
      upstream,
      balancers: this.balancers,
      keepAliveS: this.keepAliveS,
      viaToken: this.viaToken,
      state: {
        router: () => this.router,
        ports: () => this.ports,
        urlOf: (route) => this.urlOf(route),
        noteRequest: (server) => {
          this.lastRequestAt.set(server, performance.now());
          const drained = this.draining.get(server);
          if (drained !== undefined) this.draining.set(server, drained + 1);
          return drained !== undefined;
        },
      },
    });
  }

  /** A failure inside the proxy (a bug, not an upstream's): onError, where the daemon logs it redacted and reports it. */
  private reportError(error: unknown): void {
    if (this.options.onError) this.options.onError(error);
    else console.error("gotunnel proxy:", error);
  }

  static async listen(options: ProxyServerOptions): Promise<ProxyServer> {
    const proxy = new ProxyServer(options);
    // reusePort (needed for the listener swap) would let us share a port silently with another process: check first.
    assertDistinctPorts(options.httpsPort, options.httpPort);
    await probeExclusive(options.host, options.httpsPort, "https");
    if (options.httpPort !== null) await probeExclusive(options.host, options.httpPort, "http");
    proxy.listeners.set(options.host, proxy.bind(options.host, options.httpsPort, options.httpPort));
    return proxy;
  }

  /** The addresses listened on: `host`, and any update() added. */
  get hosts(): string[] {
    return [...this.listeners.keys()];
  }

  /** Client WebSockets bridged now, for `/metrics`. */
  get webSockets(): number {
    return this.openWebSockets;
  }

  /** Requests being answered now on every listener, old ones still draining included. */
  get pendingRequests(): number {
    let pending = 0;
    for (const { https, http } of this.listeners.values())
      pending += https.pendingRequests + (http?.pendingRequests ?? 0);
    for (const server of this.draining.keys()) pending += server.pendingRequests;
    return pending;
  }

  get ports(): { https: number; http: number } {
    const [first] = this.listeners.values();
    return { https: first?.https.port ?? 0, http: first?.http?.port ?? 0 };
  }

  get routes(): readonly ProxyRoute[] {
    return this.router.routes;
  }

  /** Each route with several backends and their states now, for `list` and `/metrics`. */
  backends(): RouteBackends[] {
    return this.balancers.states();
  }

  urlOf(route: ProxyRoute): string {
    return routeUrl(route, this.ports);
  }

  /**
   * Replaces the routes. New certificates need a new listener (Bun's `reload` keeps the old TLS set, DESIGN.md): we
   * bind a second server to the same port with reusePort, then retire the old one, which lets in-flight requests
   * finish. Resolves once the old listener no longer accepts connections (apply() says how).
   */
  async update(routes: readonly ProxyRoute[], tls: TlsEntry[] | undefined, hosts = this.hosts): Promise<void> {
    await this.apply(routes, tls, hosts).retired;
  }

  /**
   * update() in two steps: the new listeners serve `routes` when this returns, and `retired` resolves once no listener
   * with older certificates accepts connections any more, this change's and every earlier one's still draining. A
   * draining listener can hold out for 150 ms to 2 s while clients keep sending (retire), so the daemon starts its
   * next change once this returns, not once that is over: a route added while an earlier swap drained used to wait
   * for it, 200 ms of `up` → first 200 in the bench (issue 18).
   *
   * `hosts` changes the addresses listened on. New ones are bound first, and if one cannot be, nothing changes and
   * the error is thrown. Adding 0.0.0.0 next to 127.0.0.1 works on Linux (reusePort, same uid), and the kernel keeps
   * giving loopback connections to the more specific listener; so LAN sharing adds the wildcard and keeps loopback.
   * Retiring loopback instead would reset the connections its clients open while it drains: they keep landing on it.
   */
  apply(routes: readonly ProxyRoute[], tls: TlsEntry[] | undefined, hosts = this.hosts): { retired: Promise<void> } {
    if (this.listeners.size === 0) {
      this.router = new Router(routes);
      this.balancers.sync(routes);
      if (tls) this.tls = tls;
      return { retired: Promise.resolve() };
    }
    // Every new listener is bound before anything changes: if one cannot be, the others are stopped and the proxy
    // keeps serving the old routes on the old listeners (a route change is a transaction, daemon/service.ts).
    const replacements = this.bindReplacements(tls ?? this.tls, hosts, tls !== undefined);
    this.router = new Router(routes);
    this.balancers.sync(routes);
    if (tls) this.tls = tls;
    const retired: Server<BridgeData>[] = [];
    for (const [host, pair] of this.listeners) {
      if (!hosts.includes(host)) {
        this.listeners.delete(host);
        retired.push(...serversOf(pair));
      }
    }
    for (const [host, replacement] of replacements.https) {
      const pair = this.listeners.get(host);
      if (pair) retired.push(pair.https);
      if (pair) pair.https = replacement;
    }
    for (const [host, pair] of replacements.added) this.listeners.set(host, pair);
    for (const server of retired) {
      const retiring = this.retire(server).finally(() => this.retirements.delete(retiring));
      this.retirements.add(retiring);
    }
    return { retired: Promise.all([...this.retirements]).then(() => undefined) };
  }

  /** The listeners update() needs: both for each new address, and (`newTls`) a new HTTPS one on each kept address. */
  private bindReplacements(tls: TlsEntry[], hosts: string[], newTls: boolean) {
    const ports = this.ports;
    const httpPort = this.options.httpPort === null ? null : ports.http;
    const added = new Map<string, Listeners>();
    const https = new Map<string, Server<BridgeData>>();
    try {
      for (const host of hosts.filter((host) => !this.listeners.has(host))) {
        added.set(host, this.bind(host, ports.https, httpPort, tls));
      }
      if (newTls) {
        for (const host of hosts.filter((host) => this.listeners.has(host))) {
          https.set(host, this.serve("https", ports.https, tls, host));
        }
      }
    } catch (error) {
      for (const server of [...[...added.values()].flatMap(serversOf), ...https.values()]) server.stop(true);
      throw error;
    }
    return { added, https };
  }

  /**
   * Closes every client connection that is idle between requests, on every listener; returns how many. The daemon
   * calls it when file descriptors run short (daemon/fd-guard.ts): an idle connection is the cheapest to give up.
   */
  closeIdleConnections(): number {
    const servers = [...[...this.listeners.values()].flatMap(serversOf), ...this.draining.keys()];
    return servers.reduce((closed, server) => closed + server.closeIdleConnections(), 0);
  }

  /** Stops accepting; in-flight requests finish unless `force`. */
  async stop(force = false): Promise<void> {
    const servers = [...[...this.listeners.values()].flatMap(serversOf), ...this.draining.keys()];
    this.balancers.stop();
    await Promise.all(servers.map((server) => server.stop(force)));
  }

  /**
   * Bun's stop() closes idle keep-alive connections at once, racing the client's next request on them (wrk saw one
   * read error per connection per swap). So the old listener first answers `Connection: close` until its traffic
   * stops or the bound runs out: clients reconnect, and reusePort spreads new connections over both listeners, so
   * they converge on the new one. stop() is not awaited: it resolves only when every WebSocket and streamed response
   * on the old listener has ended, which an open HMR socket or SSE stream would postpone indefinitely.
   * `Connection: close` means nothing to an h2 client (Bun drops the field): its connection keeps the old listener
   * busy until the bound, and then stop() sends it GOAWAY naming the last stream taken; the client sends later
   * requests on a new connection (RFC 9113 §6.8), and its in-flight streams finish.
   */
  private async retire(old: Server<BridgeData>): Promise<void> {
    this.draining.set(old, 0);
    let served = 0;
    // A listener already quiet for the whole window (the usual case for `gotunnel start`: nobody is loading the page
    // yet) is stopped at once; it would only have waited QUIET_POLLS polls to learn what it knows (issue 18).
    const quietForMs = performance.now() - (this.lastRequestAt.get(old) ?? Number.NEGATIVE_INFINITY);
    let quiet = old.pendingRequests === 0 && quietForMs >= QUIET_POLLS * DRAIN_POLL_MS ? QUIET_POLLS : 0;
    for (let poll = 0; poll < MAX_DRAIN_POLLS && quiet < QUIET_POLLS; poll++) {
      await Bun.sleep(DRAIN_POLL_MS);
      const now = this.draining.get(old) ?? 0;
      quiet = now === served && old.pendingRequests === 0 ? quiet + 1 : 0;
      served = now;
    }
    this.lastRequestAt.delete(old);
    old.stop(false).then(
      () => this.draining.delete(old),
      (error: unknown) => this.reportError(error),
    );
  }

  /** Both listeners on `host` (null: no HTTP one); if the HTTP one cannot bind, the HTTPS one is stopped again. */
  private bind(host: string, httpsPort: number, httpPort: number | null, tls = this.tls): Listeners {
    const https = this.serve("https", httpsPort, tls, host);
    if (httpPort === null) return { https, http: undefined };
    try {
      return { https, http: this.serve("http", httpPort, undefined, host) };
    } catch (error) {
      https.stop(true);
      throw error;
    }
  }

  private serve(proto: Proto, port: number, tls: TlsEntry[] | undefined, host: string): Server<BridgeData> {
    try {
      return Bun.serve<BridgeData>({
        hostname: host,
        port,
        reusePort: true,
        tls,
        // Bun strips the connection-specific fields (Connection, Keep-Alive, Transfer-Encoding, Upgrade) from h2
        // responses (RFC 9113 §8.2.2), so our `Connection: close` answers are harmless there; stop() sends GOAWAY.
        http2: proto === "https" && this.options.http2 === true,
        // Bun's idle timer closes a connection idle between requests, but it also runs, without being reset by
        // traffic, while a request is served: handle() turns it off for each forwarded request and back on when the
        // response is over, so a stream (SSE, long polls, slow builds) is never cut (DESIGN.md). 0: never.
        idleTimeout: this.keepAliveS,
        maxRequestBodySize: Number.MAX_SAFE_INTEGER,
        development: false,
        fetch: (req, server) => this.handler.handle(req, server, proto),
        websocket: this.webSocketHandlers,
        error: (error) => {
          this.reportError(error);
          return new Response("gotunnel: internal error", { status: 500 });
        },
      });
    } catch (error) {
      throw bindError(error, host, port, proto);
    }
  }
}

function serversOf(listeners: Listeners): Server<BridgeData>[] {
  return listeners.http ? [listeners.https, listeners.http] : [listeners.https];
}
