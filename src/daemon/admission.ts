/**
 * Whether the daemon can serve a route, decided before a route change is committed (service.ts) and for every route
 * restored from the state file (daemon.ts). Its name must be a valid host name in normal form, because it becomes a
 * hosts-file line and a certificate SAN (config/domain.ts); an HTTPS route's names must also be inside the CA's
 * permitted names (tls/constraints.ts, checked by the gateway). The control API validates shapes only, and a state
 * file may come from a hand edit, an older gotunnel or another CA.
 */
import { checkDomain, DOMAIN_HINT } from "../config/domain.ts";
import { DASHBOARD_HOST } from "../core/dashboard.ts";
import { GotunnelError, isGotunnelError } from "../core/errors.ts";
import type { RouteProblem } from "./routes.ts";

export interface AdmittedRoute {
  name: string;
  wildcard: boolean;
  https: boolean;
}

/** Throws E_DOMAIN_INVALID unless `route.name` is exactly what config/domain.ts makes of it. */
export function assertRouteName(route: AdmittedRoute): void {
  const check = checkDomain(route.name);
  if (!check.ok) {
    throw new GotunnelError("E_DOMAIN_INVALID", `Invalid domain name ${JSON.stringify(route.name)}: ${check.reason}.`, {
      hint: DOMAIN_HINT,
      details: { input: route.name, reason: check.reason },
    });
  }
  if (route.name === DASHBOARD_HOST) {
    throw new GotunnelError(
      "E_DOMAIN_INVALID",
      `${DASHBOARD_HOST} is gotunnel's own dashboard: a route cannot use it.`,
      {
        hint: "pick another name, e.g. `myapp.localhost`",
        details: { input: route.name, reason: "reserved" },
      },
    );
  }
  if (check.value.name !== route.name || check.value.wildcard !== route.wildcard) {
    throw new GotunnelError(
      "E_DOMAIN_INVALID",
      `Invalid route name ${JSON.stringify(route.name)}: the daemon keeps names in normal form (${JSON.stringify(check.value.name)}).`,
      { hint: DOMAIN_HINT, details: { input: route.name, normal: check.value.name } },
    );
  }
}

/**
 * Checks every route (name, then the CA's scope through `checkTls`), throwing the first problem: a change with one
 * route that cannot be served is refused whole.
 */
export function admit(routes: readonly AdmittedRoute[], checkTls: (route: AdmittedRoute) => void): void {
  for (const route of routes) {
    assertRouteName(route);
    if (route.https) checkTls(route);
  }
}

/**
 * Splits restored routes into those to serve and those to skip, each skipped one with its reason. Never throws for
 * a route: a state file must never stop the daemon from starting.
 */
export function partition<T extends AdmittedRoute>(
  routes: readonly T[],
  checkTls: (route: AdmittedRoute) => void,
): { served: T[]; refused: { name: string; problem: RouteProblem }[] } {
  const served: T[] = [];
  const refused: { name: string; problem: RouteProblem }[] = [];
  for (const route of routes) {
    try {
      admit([route], checkTls);
      served.push(route);
    } catch (error) {
      if (!isGotunnelError(error)) throw error;
      refused.push({ name: route.name, problem: problemOf(route.name, error) });
    }
  }
  return { served, refused };
}

/** The reason a restored route is skipped, with its fix and the way to remove it. */
export function problemOf(name: string, error: GotunnelError): RouteProblem {
  const remove = `To remove the route instead: \`gotunnel stop ${shellWord(name)}\`.`;
  return { message: error.message, hint: error.hint ? `${error.hint} ${remove}` : remove };
}

/** A name as one shell word: as is when it is plain, else single-quoted (`*.app.local` would be a glob). */
function shellWord(text: string): string {
  return /^[\w.-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}
