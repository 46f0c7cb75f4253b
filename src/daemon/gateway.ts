/**
 * The composition root for serving routes: CA → leaf certificates → proxy listeners → upstream clients.
 * `gotunnel up` runs one in the foreground; the daemon (issue: one daemon for every terminal) will own one.
 */
import type { ResolvedConfig, ResolvedRoute } from "../config/load.ts";
import type { Paths } from "../platform/paths.ts";
import { ProxyServer, type RequestEvent } from "../proxy/server.ts";
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
  routes: GatewayRoute[];
  certificates: { issued: number; elapsedMs: number };
  stop(force?: boolean): Promise<void>;
}

export interface GatewayOptions {
  config: ResolvedConfig;
  paths: Paths;
  onRequest?: (event: RequestEvent) => void;
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { config, paths } = options;
  // TLS pulls in @peculiar/x509 (~60 ms to import): load it only on the commands that serve.
  const { loadOrCreateCA, CertificateStore } = await (await import("../tls/load.ts")).loadTls();
  const { ca, created } = await loadOrCreateCA(paths.caDir);
  const store = new CertificateStore(ca);
  const httpsRoutes = config.routes.filter((route) => route.https);
  const tls = await store.tlsEntries(httpsRoutes.map(({ name, wildcard }) => ({ name, wildcard })));
  const certificates = { issued: store.lastStats.issued, elapsedMs: store.lastStats.elapsedMs };
  const upstreams = createUpstreams();
  let proxy: ProxyServer;
  try {
    proxy = await ProxyServer.listen({
      host: config.proxy.host,
      httpsPort: config.proxy.httpsPort,
      httpPort: config.proxy.httpPort,
      routes: config.routes,
      tls,
      upstream: upstreams.upstream,
      onRequest: options.onRequest,
    });
  } catch (error) {
    upstreams.close();
    throw error;
  }
  return {
    ca,
    caCreated: created,
    ports: proxy.ports,
    routes: config.routes.map((route: ResolvedRoute) => ({
      name: route.name,
      url: proxy.urlOf(route),
      target: route.target.origin,
    })),
    certificates,
    async stop(force = false) {
      await proxy.stop(force);
      upstreams.close();
    },
  };
}
