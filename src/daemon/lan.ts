/**
 * The daemon's LAN sharing: which address it binds, which clients may use which route, and the mDNS responder that
 * announces shared `.local` routes. The policy itself is src/mdns/lan.ts; this file decides when it applies.
 *
 * Sharing follows the routes, at runtime: the daemon listens on loopback while no route opens the LAN (opensLan: a
 * shared `.local` route, or one with an explicit `lan: true`), adds a listener on 0.0.0.0 when the first such route
 * arrives, and retires it when the last one goes (gateway.ts, ProxyServer.update). So a `.localhost`
 * project never listens beyond this machine. The daemon's own global `lan: false` (its config, or GOTUNNEL_LAN=0)
 * keeps everything loopback whatever the routes say: it is this machine's owner opting out, while routes come from
 * project configs. A `proxy.host` the user chose is kept. mDNS runs only while the bind reaches the LAN: announcing
 * a name whose proxy is loopback-only would send phones to a closed port.
 */
import type { ResolvedConfig } from "../config/load.ts";
import { configDefaults } from "../config/schema.ts";
import { bindHostFor, isLanAllowed, opensLan } from "../mdns/lan.ts";
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
 * The address the daemon binds while it serves `routes`. The loopback default widens to 0.0.0.0 while a route opens
 * the LAN. A host the user set is kept, except that a global `lan: false` narrows a wildcard to loopback.
 */
export function daemonBindHost({ proxy, lan }: LanSettings, routes: readonly ProxyRoute[]): string {
  if (lan === false) return bindHostFor({ lan, routes: [], proxy });
  if (proxy.host !== configDefaults().proxy.host) return proxy.host;
  return bindHostFor({ lan, routes: routes.filter((route) => opensLan(route, lan)), proxy });
}

/**
 * The addresses the listeners bind: daemonBindHost's, and when that widened the loopback default, loopback too. The
 * kernel gives a loopback connection to the more specific listener, so keeping it means turning the LAN on and off
 * never retires the listener this machine's own clients use (ProxyServer.update says why that matters).
 *
 * The hosts block maps every name to ::1 as well as 127.0.0.1 (hosts/block.ts), and clients that try IPv6 first
 * (curl, browsers, Node ≥ 17) would meet a refused ::1 before falling back. So while IPv4 loopback is served, ::1 is
 * too, when this machine has it (`loopbackV6`: a daemon without IPv6 cannot bind ::1, and a client there cannot
 * connect to it either, so it moves on to 127.0.0.1 at once).
 */
export function listenHosts(settings: LanSettings, routes: readonly ProxyRoute[], loopbackV6 = false): string[] {
  const host = daemonBindHost(settings, routes);
  const hosts = reachesLan(host) && !reachesLan(settings.proxy.host) ? [settings.proxy.host, host] : [host];
  const servesLoopbackV4 = hosts.includes("127.0.0.1") || hosts.includes("0.0.0.0");
  return loopbackV6 && servesLoopbackV4 && !hosts.some((bound) => bound.includes(":")) ? [...hosts, "::1"] : hosts;
}

/** Whether the proxy listens beyond loopback, i.e. whether LAN clients and mDNS matter at all. */
export function reachesLan(bindHost: string): boolean {
  return !isLoopbackHost(bindHost);
}

/** The daemon log's line for a change of addresses (gateway.ts onRebind): going onto the LAN is worth knowing. */
export function rebindMessage(hosts: readonly string[], error?: unknown): ["info" | "warn", string] {
  const where = hosts.join(" and ");
  // The error names the address that could not be bound (proxy/listen-errors.ts).
  if (error !== undefined) return ["warn", `could not add a listener, still listening on ${where}: ${String(error)}`];
  return hosts.some(reachesLan)
    ? ["info", `listening on ${where}: a route is shared on the LAN`]
    : ["info", `listening on ${where} only: no route is shared on the LAN`];
}

/** The proxy's isAllowed hook: loopback clients always; others per the route's `lan`, else the global one. */
export function lanGuard(lan: boolean | undefined): (route: ProxyRoute | undefined, clientIp: string) => boolean {
  return (route, clientIp) => isLanAllowed(route, clientIp, lan);
}

interface AnnouncerOptions {
  ports: { https: number; http: number };
  lan?: boolean;
  /** Whether the proxy listens beyond loopback now (it follows the routes, see daemonBindHost). */
  reachesLan(): boolean;
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
 * nothing until then), updates it on every change, and says goodbye on stop, or as soon as the proxy is back on
 * loopback.
 */
export function lanAnnouncer(options: AnnouncerOptions) {
  let responder: Promise<MdnsResponder> | undefined;
  const shared = (routes: readonly ProxyRoute[]) =>
    mdnsRoutes(routes).filter((route) => route.lan ?? options.lan ?? true);
  const stop = async (): Promise<void> => {
    const running = responder;
    responder = undefined;
    if (running) await (await running).stop();
  };
  return {
    async update(routes: readonly ProxyRoute[]): Promise<void> {
      if (options.lan === false || !options.reachesLan()) return stop();
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
    stop,
  };
}
export type LanAnnouncer = ReturnType<typeof lanAnnouncer>;
