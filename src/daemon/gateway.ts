/**
 * The composition root for serving routes: CA → leaf certificates → proxy listeners → upstream clients. The daemon
 * owns one gateway and changes its routes at runtime: new certificates, or new addresses to listen on (LAN sharing,
 * see daemon/lan.ts), mean a listener swap (ProxyServer.update), which drops no request.
 */
import type { ResolvedConfig } from "../config/load.ts";
import { DEFAULT_CLIENT_BODY_TIMEOUT_S, DEFAULT_HTTP2, DEFAULT_KEEPALIVE_TIMEOUT_S } from "../config/schema.ts";
import { fileLimitProbe } from "../platform/fd-limit.ts";
import type { Paths } from "../platform/paths.ts";
import type { RouteBackends } from "../proxy/balancers.ts";
import type { ProxyRoute } from "../proxy/router.ts";
import { ProxyServer, type ProxyServerOptions, type RequestEvent, type TlsEntry } from "../proxy/server.ts";
import type { LocalCA } from "../tls/ca.ts";
import { CertificateIssuer, issuerTimings } from "../tls/issuer/client.ts";
import { CertificateStore, watchRenewal } from "../tls/store.ts";
import { partition } from "./admission.ts";
import { startFdGuard } from "./fd-guard.ts";
import { onDemandCertificates } from "./on-demand.ts";
import type { RouteProblem } from "./routes.ts";
import { selfCommand } from "./spawn.ts";
import { createUpstreams, healthCheck, type Upstreams } from "./upstreams.ts";

export interface GatewayRoute {
  name: string;
  url: string;
  target: string;
}

export interface Gateway {
  ca: LocalCA;
  caCreated: boolean;
  ports: { https: number; http: number };
  /** The addresses the listeners are bound to now. */
  readonly hosts: string[];
  /** The routes served now. */
  readonly routes: readonly ProxyRoute[];
  certificates: { issued: number; elapsedMs: number };
  urlOf(route: ProxyRoute): string;
  /** Throws E_TLS when the CA may not vouch for an HTTPS route's names; signs nothing. */
  checkTls(route: { name: string; wildcard: boolean }): void;
  /** Issues (or reuses) the certificates `routes` need, so a following setRoutes cannot fail on them. */
  prepare(routes: readonly ProxyRoute[]): Promise<void>;
  /** Restored routes that are not served, each with why (admission.ts partition). */
  readonly refused: { name: string; problem: RouteProblem }[];
  /** Gauges read at scrape time (daemon/admin.ts). */
  gauges(): Promise<GatewayGauges>;
  /** True while a request is being answered or a WebSocket is bridged (daemon/idle-trim.ts waits for neither). */
  busy(): boolean;
  /** Each served route with several backends, and their states now. */
  backends(): RouteBackends[];
  /**
   * Replaces the served routes; resolves once the new set is live. Calls are serialized. On failure nothing changed:
   * the old routes are still served on the old listeners.
   */
  setRoutes(routes: readonly ProxyRoute[]): Promise<void>;
  stop(force?: boolean): Promise<void>;
}

export interface GatewayGauges {
  webSockets: number;
  upstreamBytes: { sent: number; received: number };
  /** Each served leaf's expiry: the route name, or "default" for the localhost certificate. */
  certificates: { certificate: string; notAfter: Date }[];
  backends: RouteBackends[];
}

export interface GatewayOptions {
  proxy: ResolvedConfig["proxy"];
  routes: readonly ProxyRoute[];
  paths: Paths;
  onRequest?: (event: RequestEvent) => void;
  /** A leaf renewal failed; the next check (a minute later) tries again. */
  onRenewalError?: (error: unknown) => void;
  /** The proxy answered a request with its own 500 (a bug in gotunnel, not an upstream failure). */
  onProxyError?: ProxyServerOptions["onError"];
  /** The LAN policy (daemon/lan.ts lanGuard); default: every client may use every route. */
  isAllowed?: ProxyServerOptions["isAllowed"];
  /** Server spans for proxied requests (telemetry/tracing.ts); absent: no tracing work per request. */
  tracing?: ProxyServerOptions["tracing"];
  /** The addresses to listen on for a route set (daemon/lan.ts listenHosts); default: always `proxy.host`. */
  bindHosts?: (routes: readonly ProxyRoute[]) => string[];
  /** The listeners now listen on `hosts`, or (with `error`) could not change and stay on `hosts`. */
  onRebind?: (hosts: string[], error?: unknown) => void;
  /** gotunnel's own site (the dashboard) on the HTTPS listener; its name gets a certificate like a route's. */
  site?: ProxyServerOptions["site"];
  /** Whether a route's bodies are captured now (the dashboard's switch). */
  captures?: ProxyServerOptions["captures"];
  /** The daemon's log, for the file-descriptor guard (fd-guard.ts); absent: no guard. */
  log?: (level: "info" | "warn", message: string) => void;
  /**
   * Who makes the certificates: a child process (tls/issuer/), so @peculiar/x509 never loads here. The daemon starts
   * it early (warm) so the child's start overlaps its own; default: one started here. Closed by stop().
   */
  issuer?: CertificateIssuer;
}

/** The certificates to serve: each HTTPS route's, and the site's name (admission.ts keeps routes off it). */
const tlsNames = (routes: readonly ProxyRoute[], site: string | undefined) => [
  ...routes.filter((route) => route.https).map(({ name, wildcard }) => ({ name, wildcard })),
  ...(site === undefined ? [] : [{ name: site, wildcard: false }]),
];

/** The daemon's certificate issuer for the CA in `caDir`: this gotunnel run again, timings from the environment. */
export function daemonIssuer(caDir: string): CertificateIssuer {
  return new CertificateIssuer({ command: selfCommand(), caDir, ...issuerTimings(process.env) });
}

export async function startGateway(given: GatewayOptions): Promise<Gateway> {
  const caDir = given.paths.caDir;
  const issuer = given.issuer ?? daemonIssuer(caDir);
  let ca: LocalCA;
  let created: boolean;
  try {
    ({ ca, created } = await issuer.loadCA(caDir, { create: true }));
  } catch (error) {
    issuer.close();
    throw error;
  }
  const store = new CertificateStore(ca, { issue: (names, now) => issuer.issue(ca, caDir, names, now) });
  // A restored route the CA may not vouch for (the state file outlived a CA, or was edited) is skipped, not fatal.
  const { served, refused } = partition(given.routes, (route) => store.check(route));
  const options = { ...given, routes: served };
  const tlsRoutes = (routes: readonly ProxyRoute[]) => tlsNames(routes, options.site?.host);
  const tls = await store.tlsEntries(tlsRoutes(options.routes)).catch((error: unknown) => {
    issuer.close();
    throw error;
  });
  const certificates = { issued: store.lastStats.issued, elapsedMs: store.lastStats.elapsedMs };
  const upstreams = createUpstreams();
  let proxy: ProxyServer;
  // Set once the proxy serves: the onboarding page lists the routes a device may open, as they are at each request.
  let sharedUrls: () => string[] = () => [];
  const httpPages = await onboardingPages(ca, () => sharedUrls());
  // Set once the proxy serves: a name with no route may get a certificate (on-demand.ts), which needs the swapper.
  let onNoRoute: (host: string, clientIp: string) => void = () => undefined;
  try {
    proxy = await ProxyServer.listen({
      host: options.bindHosts?.(options.routes)[0] ?? options.proxy.host,
      httpsPort: options.proxy.httpsPort,
      httpPort: options.proxy.httpPort,
      routes: options.routes,
      tls,
      upstream: upstreams.upstream,
      onRequest: options.onRequest,
      onNoRoute: (host, clientIp) => onNoRoute(host, clientIp),
      httpPages,
      isAllowed: options.isAllowed,
      onError: options.onProxyError,
      tracing: options.tracing,
      site: options.site,
      captures: options.captures,
      healthCheck,
      http2: options.proxy.http2 ?? DEFAULT_HTTP2,
      timeouts: {
        keepAliveS: options.proxy.keepAliveTimeout ?? DEFAULT_KEEPALIVE_TIMEOUT_S,
        clientBodyMs: (options.proxy.clientBodyTimeout ?? DEFAULT_CLIENT_BODY_TIMEOUT_S) * 1000,
      },
    });
  } catch (error) {
    upstreams.close();
    issuer.close();
    throw error;
  }
  const fdGuard = options.log && guardFileDescriptors(proxy, upstreams, options.log);
  const swapper = routeSwapper(proxy, store, options, tlsRoutes);
  // Restored routes may already want a second address (the LAN): listen() binds only the first.
  if (!sameHosts(options.bindHosts?.(options.routes) ?? proxy.hosts, proxy.hosts))
    await swapper.setRoutes(options.routes);
  onNoRoute = onDemandCertificates({
    constraints: ca.nameConstraints,
    covered: (name) => store.covers(name),
    issue: (name) => store.issueSpare(name),
    apply: () => swapper.refresh(),
    onError: (error) => options.log?.("warn", `an on-demand certificate failed: ${String(error)}`),
  }).noRoute;
  sharedUrls = () => swapper.current().flatMap((route) => (route.lan === false ? [] : [proxy.urlOf(route)]));
  // A long-running daemon outlives its leaves: renew them before they expire (tls/store.ts watchRenewal).
  const renewal = watchRenewal(store, {
    onDue: () => swapper.refresh(),
    onError: (error) => options.onRenewalError?.(error),
  });
  return {
    ca,
    caCreated: created,
    ports: proxy.ports,
    get hosts() {
      return proxy.hosts;
    },
    get routes() {
      return proxy.routes;
    },
    certificates,
    refused,
    urlOf: (route) => proxy.urlOf(route),
    checkTls: (route) => store.check(route),
    prepare: async (routes) => void (await store.tlsEntries(tlsRoutes(routes))),
    busy: () => proxy.webSockets > 0 || proxy.pendingRequests > 0,
    gauges: async () => ({
      webSockets: proxy.webSockets,
      upstreamBytes: upstreams.traffic(),
      certificates: await store.expiries(),
      backends: proxy.backends(),
    }),
    backends: () => proxy.backends(),
    setRoutes: swapper.setRoutes,
    async stop(force = false) {
      renewal.stop();
      fdGuard?.stop();
      swapper.close();
      await proxy.stop(force);
      upstreams.close();
      issuer.close();
    },
  };
}

/** Sheds idle client connections and upstream sockets when descriptors run short, where the platform says how. */
function guardFileDescriptors(proxy: ProxyServer, upstreams: Upstreams, log: NonNullable<GatewayOptions["log"]>) {
  const probe = fileLimitProbe();
  if (typeof probe === "string") {
    log("info", `open files are not watched: ${probe}`);
    return undefined;
  }
  return startFdGuard({ probe, log, shed: () => proxy.closeIdleConnections() + upstreams.closeIdle() });
}

/**
 * Device onboarding (`/_gotunnel/`) on the HTTP listener: the CA downloads and the page listing the routes to open.
 * Loaded here, not in proxy/, which never imports onboarding (CONTRIBUTING.md).
 */
async function onboardingPages(ca: LocalCA, urls: () => string[]): Promise<(req: Request) => Response | undefined> {
  const { onboardingResponse } = await import("../onboarding/index.ts");
  const permittedSuffixes = ca.nameConstraints?.dnsSuffixes;
  return (req) =>
    onboardingResponse(req, {
      caPem: ca.certPem,
      caName: ca.commonName,
      urls: urls(),
      ...(permittedSuffixes ? { permittedSuffixes } : {}),
    });
}

type TlsNames = ReturnType<typeof tlsNames>;
type Store = { tlsEntries(routes: TlsNames): Promise<TlsEntry[]> };

/**
 * One swap at a time: two concurrent swaps would race for which listener survives. None after stop. refresh()
 * re-serves the routes live when its turn comes (new certificates, same routes): reading them when it is queued
 * instead would undo a route change queued before it. Exported for tests/unit/route-swapper.test.ts.
 */
export function routeSwapper(
  proxy: ProxyServer,
  store: Store,
  options: GatewayOptions,
  tlsRoutes: (routes: readonly ProxyRoute[]) => TlsNames,
) {
  let queue: Promise<void> = Promise.resolve();
  let current = options.routes;
  let closed = false;
  const enqueue = (routesOf: () => readonly ProxyRoute[]): Promise<void> => {
    if (closed) return Promise.resolve();
    const applied = queue.then(async () => {
      if (closed) return undefined;
      const routes = routesOf();
      const swapped = swap(proxy, routes, await store.tlsEntries(tlsRoutes(routes)), options);
      // Only a set that is live: refresh re-serves `current`, and must not resurrect a change that failed.
      current = routes;
      return swapped;
    });
    // The next change starts once this one serves; its caller hears back once older listeners stopped accepting
    // (ProxyServer.apply), and gets this swap's error through `applied`. The queue itself only needs to keep going.
    queue = applied.then(
      () => undefined,
      () => undefined,
    );
    return applied.then((swapped) => swapped?.retired);
  };
  return {
    setRoutes: (routes: readonly ProxyRoute[]) => enqueue(() => routes),
    refresh: () => enqueue(() => current),
    current: () => current,
    close: () => (closed = true),
  };
}

/**
 * Serves `routes` on the addresses they call for, from its return on (`retired`: ProxyServer.apply). An address that
 * cannot be bound (another process holds the port on a LAN address) must not take the routes down with it: they are
 * served where the listeners already are.
 */
function swap(
  proxy: ProxyServer,
  routes: readonly ProxyRoute[],
  tls: TlsEntry[],
  options: GatewayOptions,
): { retired: Promise<void> } {
  const before = proxy.hosts;
  const hosts = options.bindHosts?.(routes) ?? before;
  let applied: { retired: Promise<void> };
  try {
    applied = proxy.apply(routes, tls, hosts);
  } catch (error) {
    if (sameHosts(hosts, before)) throw error;
    options.onRebind?.(before, error);
    return proxy.apply(routes, tls);
  }
  if (!sameHosts(hosts, before)) options.onRebind?.(proxy.hosts);
  return applied;
}

function sameHosts(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((host) => b.includes(host));
}
