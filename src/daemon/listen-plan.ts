/**
 * How the proxy listens, put together once at daemon start: the addresses for a route set, the LAN guard, and
 * whether routes are shared on the LAN now (which mDNS and the dashboard's LAN page follow). Usually that is
 * lan.ts's policy as it is. Where the OS lets the user bind the proxy's ports only on the wildcard address (macOS
 * below 1024, platform/privileged-ports.ts), the listeners stay on the wildcard whatever the routes say, and the
 * guard gives a client on another machine what the policy's own listeners would have: nothing while no route is
 * shared, lanGuard's answer while one is.
 */
import { configDefaults } from "../config/schema.ts";
import { isLoopback } from "../mdns/ip.ts";
import { portBind } from "../platform/privileged-ports.ts";
import type { ProxyRoute } from "../proxy/router.ts";
import { daemonBindHost, type LanSettings, lanGuard, listenHosts, reachesLan } from "./lan.ts";

export interface ListenPlan {
  bindHosts(routes: readonly ProxyRoute[]): string[];
  isAllowed(route: ProxyRoute | undefined, clientIp: string): boolean;
  /** Whether routes are shared on the LAN now, given the addresses listened on and the routes served. */
  sharesLan(hosts: readonly string[], routes: readonly ProxyRoute[]): boolean;
  /** Set in the wildcard mode: the daemon log's line saying why it listens on the wildcard. */
  note?: string;
}

export interface ListenInput {
  settings: LanSettings;
  ports: { https: number; http: number | null };
  platform: NodeJS.Platform;
  uid: number | undefined;
  loopbackV6: boolean;
  /** The routes served now (the guard asks on each request from another machine). */
  served(): readonly ProxyRoute[];
}

export function listenPlan(input: ListenInput): ListenPlan {
  const { settings, loopbackV6 } = input;
  const guard = lanGuard(settings.lan);
  const configuredHost = settings.proxy.host === configDefaults().proxy.host ? undefined : settings.proxy.host;
  const ports = [input.ports.https, input.ports.http].filter((port): port is number => port !== null);
  const binds = ports.map((port) => ({ port, ...portBind({ ...input, port, configuredHost, ipv6: loopbackV6 }) }));
  const forced = binds.find((bind) => bind.guarded);
  if (!forced) {
    return {
      bindHosts: (routes) => listenHosts(settings, routes, loopbackV6),
      isAllowed: guard,
      sharesLan: (hosts) => hosts.some(reachesLan),
    };
  }
  // Both listeners share their addresses (proxy/server.ts), so one port below 1024 puts both on the wildcard.
  const sharesLan = (routes: readonly ProxyRoute[]) => reachesLan(daemonBindHost(settings, routes));
  const low = binds.filter((bind) => bind.guarded).map((bind) => bind.port);
  return {
    bindHosts: () => [forced.host],
    isAllowed: (route, clientIp) => isLoopback(clientIp) || (sharesLan(input.served()) && guard(route, clientIp)),
    sharesLan: (_hosts, routes) => sharesLan(routes),
    note:
      `listening on ${forced.host}: this OS lets a user bind ${low.join(" and ")} only on the wildcard address; ` +
      "clients on other machines are refused every route that is not shared on the LAN",
  };
}
