/**
 * Host → route lookup. Exact names win; then the longest matching wildcard (`*.app.local` matches `a.app.local` and,
 * because users expect it, `app.local` itself). Pure: no sockets.
 */
import type { BalancePolicy } from "./balancer.ts";

/** What the proxy needs to know about a route. The config layer's ResolvedRoute satisfies it structurally. */
export interface ProxyRoute {
  /** ASCII (punycode) host name, lowercased; wildcard routes keep the leading `*.`. */
  name: string;
  wildcard: boolean;
  target: { protocol: "http:" | "https:"; hostname: string; port: number; origin: string };
  /** false: served over plain HTTP only (no redirect to HTTPS). */
  https: boolean;
  /** Extra request headers sent to the upstream. */
  headers: Record<string, string>;
  /** Send the client's Host to the upstream (true) or the target's host:port (false). */
  preserveHost: boolean;
  /** false: only clients on this machine may use the route. Unset: the server's policy decides (see isAllowed). */
  lan?: boolean;
  /**
   * Path prefixes on which a request whose Origin is this route's own origin reaches the upstream with the target's
   * origin instead (headers.ts rewriteSameOrigin). Unset or empty: Origin passes unchanged.
   */
  rewriteOrigin?: readonly string[];
  /** Several backends, `target` first (balancer.ts); unset for one. */
  targets?: readonly ProxyRoute["target"][];
  /** How `targets` are picked; unset: round_robin. */
  policy?: BalancePolicy;
  /** The active check of `targets`, run by whoever gives the proxy its healthCheck (server.ts). */
  health?: { path: string; intervalMs: number };
}

export class Router {
  readonly routes: readonly ProxyRoute[];
  private readonly exact = new Map<string, ProxyRoute>();
  /** [suffix without "*", route], longest suffix first. */
  private readonly wildcards: [string, ProxyRoute][] = [];

  constructor(routes: readonly ProxyRoute[]) {
    this.routes = routes;
    for (const route of routes) {
      if (route.wildcard) {
        const suffix = route.name.startsWith("*.") ? route.name.slice(1) : `.${route.name}`;
        this.wildcards.push([suffix, route]);
      } else {
        this.exact.set(route.name, route);
      }
    }
    this.wildcards.sort((a, b) => b[0].length - a[0].length);
  }

  /** `host` is a Host header or SNI value: may carry a port, a trailing dot, or upper case. */
  match(host: string | null): ProxyRoute | undefined {
    if (!host) return undefined;
    const name = normalizeHost(host);
    const hit = this.exact.get(name);
    if (hit) return hit;
    for (const [suffix, route] of this.wildcards) {
      if (name.endsWith(suffix) || name === suffix.slice(1)) return route;
    }
    return undefined;
  }
}

/** Strips the port (also from `[::1]:443`) and a trailing dot, and lowercases. */
export function normalizeHost(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === 91 /* [ */) {
    end = host.indexOf("]") + 1 || host.length;
  } else {
    const colon = host.lastIndexOf(":");
    if (colon !== -1) end = colon;
  }
  if (host.charCodeAt(end - 1) === 46 /* . */) end--;
  const name = end === host.length ? host : host.slice(0, end);
  return name.toLowerCase();
}

/** The public URL of a route as users type it (port omitted when it is the scheme's default). */
export function routeUrl(route: ProxyRoute, ports: { http: number; https: number }): string {
  const host = route.wildcard ? route.name.replace(/^\*\./, "") : route.name;
  if (route.https) return ports.https === 443 ? `https://${host}` : `https://${host}:${ports.https}`;
  return ports.http === 80 ? `http://${host}` : `http://${host}:${ports.http}`;
}
