/**
 * The composition root for serving routes: CA → leaf certificates → proxy listeners → upstream clients. The daemon
 * owns one gateway and changes its routes at runtime: new certificates mean a listener swap (ProxyServer.update),
 * which drops no request.
 */
import type { ResolvedConfig } from "../config/load.ts";
import type { Paths } from "../platform/paths.ts";
import type { ProxyRoute } from "../proxy/router.ts";
import { ProxyServer, type ProxyServerOptions, type RequestEvent, type TlsEntry } from "../proxy/server.ts";
import type { LocalCA } from "../tls/ca.ts";
import { createUpstreams } from "./upstreams.ts";

export interface GatewayRoute {
  name: string;
  url: string;
  target: string;
}

export interface Gateway {
  ca: LocalCA;
  caCreated: boolean;
  ports: { https: number; http: number };
  certificates: { issued: number; elapsedMs: number };
  urlOf(route: ProxyRoute): string;
  /** Replaces the served routes; resolves once the new set is live. Calls are serialized. */
  setRoutes(routes: readonly ProxyRoute[]): Promise<void>;
  stop(force?: boolean): Promise<void>;
}

export interface GatewayOptions {
  proxy: ResolvedConfig["proxy"];
  routes: readonly ProxyRoute[];
  paths: Paths;
  onRequest?: (event: RequestEvent) => void;
  /** A leaf renewal failed; the next check (a minute later) tries again. */
  onRenewalError?: (error: unknown) => void;
  /** The LAN policy (daemon/lan.ts lanGuard); default: every client may use every route. */
  isAllowed?: ProxyServerOptions["isAllowed"];
}

const tlsRoutes = (routes: readonly ProxyRoute[]) =>
  routes.filter((route) => route.https).map(({ name, wildcard }) => ({ name, wildcard }));

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  // TLS pulls in @peculiar/x509 (~60 ms to import): load it only on the commands that serve.
  const { loadOrCreateCA, CertificateStore } = await (await import("../tls/load.ts")).loadTls();
  const { watchRenewal } = await import("../tls/store.ts");
  const { ca, created } = await loadOrCreateCA(options.paths.caDir);
  const store = new CertificateStore(ca);
  const tls = await store.tlsEntries(tlsRoutes(options.routes));
  const certificates = { issued: store.lastStats.issued, elapsedMs: store.lastStats.elapsedMs };
  const upstreams = createUpstreams();
  let proxy: ProxyServer;
  // Set once the proxy serves: the onboarding page lists the routes a device may open, as they are at each request.
  let sharedUrls: () => string[] = () => [];
  const httpPages = await onboardingPages(ca, () => sharedUrls());
  try {
    proxy = await ProxyServer.listen({
      host: options.proxy.host,
      httpsPort: options.proxy.httpsPort,
      httpPort: options.proxy.httpPort,
      routes: options.routes,
      tls,
      upstream: upstreams.upstream,
      onRequest: options.onRequest,
      httpPages,
      isAllowed: options.isAllowed,
    });
  } catch (error) {
    upstreams.close();
    throw error;
  }
  const swapper = routeSwapper(proxy, store, options.routes);
  sharedUrls = () => swapper.current().flatMap((route) => (route.lan === false ? [] : [proxy.urlOf(route)]));
  // A long-running daemon outlives its leaves: renew them before they expire (tls/store.ts watchRenewal).
  const renewal = watchRenewal(store, {
    onDue: () => swapper.setRoutes(swapper.current()),
    onError: (error) => options.onRenewalError?.(error),
  });
  return {
    ca,
    caCreated: created,
    ports: proxy.ports,
    certificates,
    urlOf: (route) => proxy.urlOf(route),
    setRoutes: swapper.setRoutes,
    async stop(force = false) {
      renewal.stop();
      swapper.close();
      await proxy.stop(force);
      upstreams.close();
    },
  };
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

type Store = { tlsEntries(routes: ReturnType<typeof tlsRoutes>): Promise<TlsEntry[]> };

/** One swap at a time: two concurrent swaps would race for which listener survives. None after stop. */
function routeSwapper(proxy: ProxyServer, store: Store, initial: readonly ProxyRoute[]) {
  let queue: Promise<void> = Promise.resolve();
  let current = initial;
  let closed = false;
  const setRoutes = (routes: readonly ProxyRoute[]): Promise<void> => {
    if (closed) return Promise.resolve();
    current = routes;
    const next = queue.then(async () => {
      if (!closed) await proxy.update(routes, await store.tlsEntries(tlsRoutes(routes)));
    });
    // The caller gets this swap's error through `next`; the queue itself only needs to keep going.
    queue = next.catch(() => undefined);
    return next;
  };
  return { setRoutes, current: () => current, close: () => (closed = true) };
}
