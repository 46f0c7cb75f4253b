/**
 * The daemon's LAN sharing: which address it binds, which clients may use which route, and the mDNS responder that
 * announces shared `.local` routes. The policy itself is src/mdns/lan.ts; this file decides when it applies.
 *
 * Sharing is opt-in for the bind: `lan` defaults to true for routes, but a developer machine on café Wi-Fi must not
 * start listening beyond loopback just because a config file gained a `.local` name. The daemon leaves loopback only
 * when its own config (flags, env, user file) sets `proxy.host` or sets `lan: true` explicitly. mDNS runs only when
 * the bind reaches the LAN: announcing a name whose proxy is loopback-only would send phones to a closed port.
 */
import type { ResolvedConfig } from "../config/load.ts";
import { configDefaults } from "../config/schema.ts";
import { bindHostFor, isLanAllowed } from "../mdns/lan.ts";
import type { MdnsEvent, MdnsResponder } from "../mdns/types.ts";
import type { ProxyRoute } from "../proxy/router.ts";

export interface LanSettings {
  proxy: ResolvedConfig["proxy"];
  /** The daemon config's global `lan`; undefined when no layer set it. */
  lan?: boolean;
}

/** Both loopback forms `proxy.host` can take (the default is 127.0.0.1). */
function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

/**
 * The address the daemon binds. `lan: false` narrows a wildcard host to loopback (bindHostFor); an explicit host is
 * kept; an explicit `lan: true` widens the loopback default to 0.0.0.0; otherwise the loopback default stays.
 */
export function daemonBindHost({ proxy, lan }: LanSettings): string {
  // bindHostFor with one route that follows the global setting: the daemon starts before any route arrives.
  const byPolicy = bindHostFor({ lan, routes: [{}], proxy });
  if (lan === false) return byPolicy;
  if (proxy.host !== configDefaults().proxy.host) return proxy.host;
  return lan === true ? byPolicy : proxy.host;
}

/** Whether the proxy listens beyond loopback, i.e. whether LAN clients and mDNS matter at all. */
export function reachesLan(bindHost: string): boolean {
  return !isLoopbackHost(bindHost);
}

/** The proxy's isAllowed hook: loopback clients always; others per the route's `lan`, else the global one. */
export function lanGuard(lan: boolean | undefined): (route: ProxyRoute | undefined, clientIp: string) => boolean {
  return (route, clientIp) => isLanAllowed(route, clientIp, lan);
}

interface AnnouncerOptions {
  ports: { https: number; http: number };
  lan?: boolean;
  onEvent(event: MdnsEvent): void;
}

/** The `.local` routes the responder should answer for (it filters `lan: false` itself, as records.ts does). */
function mdnsRoutes(routes: readonly ProxyRoute[]) {
  return routes
    .filter((route) => route.name.endsWith(".local"))
    .map(({ name, wildcard, https, lan }) => ({ name, wildcard, https, ...(lan === undefined ? {} : { lan }) }));
}

/**
 * Starts the responder on the first shared `.local` route (a dynamic import: the mDNS stack and its sockets cost
 * nothing until then), updates it on every change, and says goodbye on stop.
 */
export function lanAnnouncer(options: AnnouncerOptions) {
  let responder: Promise<MdnsResponder> | undefined;
  const shared = (routes: readonly ProxyRoute[]) =>
    mdnsRoutes(routes).filter((route) => route.lan ?? options.lan ?? true);
  return {
    async update(routes: readonly ProxyRoute[]): Promise<void> {
      const wanted = mdnsRoutes(routes);
      if (responder) return (await responder).update(wanted);
      if (shared(routes).length === 0) return;
      responder = import("../mdns/responder.ts").then(({ startMdns }) =>
        startMdns({
          routes: wanted,
          httpsPort: options.ports.https,
          httpPort: options.ports.http,
          onEvent: options.onEvent,
          ...(options.lan === undefined ? {} : { lan: options.lan }),
        }),
      );
      // A failed start (port 5353 refused, no multicast) is the caller's to report; the next change tries again.
      await responder.catch((error: unknown) => {
        responder = undefined;
        throw error;
      });
    },
    async stop(): Promise<void> {
      if (responder) await (await responder).stop();
      responder = undefined;
    },
  };
}
export type LanAnnouncer = ReturnType<typeof lanAnnouncer>;
