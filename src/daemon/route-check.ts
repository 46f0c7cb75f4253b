/**
 * `gotunnel doctor routes`: for each route the daemon serves, does its dev server accept the route's name? One GET
 * of `/` straight to the upstream with the Host the proxy sends (so the check needs no name resolution), recognised
 * with frameworks/refusals.ts; and the refusals the proxy logged lately (a browser's HMR socket or /_next/ request,
 * which a plain GET does not make). Client side, like `list`: it asks the daemon and probes from this process.
 */
import { detectRefusal, type Refusal } from "../frameworks/refusals.ts";
import type { ControlClient } from "./control/client.ts";
import { type RouteInfo, routesResponseSchema } from "./control/protocol.ts";

/** A dev server compiling its first page may take a while; longer than this is reported as "no answer". */
const PROBE_TIMEOUT_MS = 15_000;
/** How many of the latest logged requests are searched for refusals. */
const LOG_LINES = 1_000;
/** What the proxy's FrameworkRefusal messages start with after the framework's name (proxy/refusal.ts). */
const REFUSED_RE = /^(\S+(?: \S+)?) refused /;

export interface RouteCheck {
  name: string;
  url: string;
  target: string;
  /** The upstream's status for GET /, or undefined when it did not answer (then `problem` says why). */
  status?: number;
  problem?: string;
  refusal?: Refusal;
  /** Refusals the proxy logged for this route (newest first, one per distinct message). */
  logged: string[];
}

export async function checkRoutes(client: ControlClient): Promise<RouteCheck[]> {
  const { routes } = await client.request("GET", "/v1/routes", routesResponseSchema);
  const logged = await loggedRefusals(client);
  // A route with several backends gets a check per backend: each must accept the name.
  const each = routes.flatMap((route) => (route.targets ?? [route.target]).map((target) => ({ route, target })));
  return Promise.all(
    each.map(async ({ route, target }) => ({ ...(await probe(route, target)), logged: logged.get(route.name) ?? [] })),
  );
}

async function probe(route: RouteInfo, target: RouteInfo["target"]): Promise<Omit<RouteCheck, "logged">> {
  const base = { name: route.name, url: route.url, target: target.origin };
  const host = route.preserveHost ? route.name.replace(/^\*\./, "") : `${target.hostname}:${target.port}`;
  try {
    const response = await fetch(`${target.origin}/`, {
      headers: { host, accept: "text/html", ...route.headers },
      redirect: "manual",
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
      // A dev server's own https certificate is usually self-signed: this check is about names, not its TLS.
      tls: { rejectUnauthorized: false },
    });
    const body = await response.text();
    const refusal = detectRefusal({ status: response.status, path: "/", body, upgrade: false }, route.name);
    return { ...base, status: response.status, ...(refusal ? { refusal } : {}) };
  } catch (error) {
    return { ...base, problem: `no answer from ${target.origin}: ${(error as Error).message}` };
  }
}

async function loggedRefusals(client: ControlClient): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  const lines = await client.logs({ limit: LOG_LINES }, new AbortController().signal);
  for await (const line of lines) {
    if (!("route" in line) || line.route === undefined || !line.error || !REFUSED_RE.test(line.error)) continue;
    const list = found.get(line.route) ?? [];
    if (!list.includes(line.error)) list.unshift(line.error);
    found.set(line.route, list);
  }
  return found;
}
