/**
 * LAN sharing policy, as pure functions the daemon applies: which address the proxy binds to, and whether a client
 * may use a route. A route is shared on the LAN when its own `lan` says so, or, when that is unset, the global
 * `lan` setting (default true). Loopback clients may always use every route.
 */
import { isLoopback } from "./ip.ts";
import { isLocalName } from "./names.ts";

export const LAN_DEFAULT = true;
const ANY_V4 = "0.0.0.0";
const LOOPBACK_V4 = "127.0.0.1";
const LOOPBACK_V6 = "::1";

export interface LanRoute {
  lan?: boolean;
}

export interface LanConfig {
  /** Global setting; undefined means LAN_DEFAULT. */
  lan?: boolean;
  routes: readonly LanRoute[];
  proxy: { host: string };
}

export function isLanRoute(route: LanRoute, globalLan: boolean | undefined = LAN_DEFAULT): boolean {
  return route.lan ?? globalLan ?? LAN_DEFAULT;
}

/**
 * Whether a route is a reason to listen beyond loopback: it is shared (isLanRoute) and a device can find it. A
 * `.local` name resolves on the LAN through our mDNS responder; `myapp.localhost` or `myapp.test` does not, so such
 * a route opens the LAN only when `lan: true` was set explicitly, on it or globally (the user resolves it some
 * other way, e.g. a LAN DNS server).
 */
export function opensLan(route: LanRoute & { name: string }, globalLan?: boolean): boolean {
  if (!isLanRoute(route, globalLan)) return false;
  return isLocalName(route.name) || route.lan === true || globalLan === true;
}

/** True for the unspecified addresses 0.0.0.0 and ::, which listen on every interface. */
function isWildcardHost(host: string): boolean {
  return host === ANY_V4 || host === "::" || host === "[::]";
}

/**
 * The proxy's bind address. With at least one LAN route, a loopback `proxy.host` (the default) widens to 0.0.0.0
 * so phones can connect; a specific address the user chose is kept. With none, a wildcard host narrows to
 * loopback: nothing would be allowed through it anyway (isLanAllowed).
 */
export function bindHostFor(config: LanConfig): string {
  const host = config.proxy.host;
  const shared = config.routes.some((route) => isLanRoute(route, config.lan));
  if (shared) return isLoopback(host) || host === "localhost" ? ANY_V4 : host;
  if (isWildcardHost(host)) return host === ANY_V4 ? LOOPBACK_V4 : LOOPBACK_V6;
  return host;
}

/**
 * Whether a request from `clientIp` may use `route` (undefined: no route matched, e.g. the 404 page or the
 * onboarding page, which follow the global setting). Accepts IPv4-mapped IPv6 addresses, as Bun reports them.
 */
export function isLanAllowed(
  route: LanRoute | undefined,
  clientIp: string,
  globalLan: boolean | undefined = LAN_DEFAULT,
): boolean {
  if (isLoopback(clientIp)) return true;
  return route ? isLanRoute(route, globalLan) : (globalLan ?? LAN_DEFAULT);
}
