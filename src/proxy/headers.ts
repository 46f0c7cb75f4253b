/**
 * Header rewriting between client and upstream. Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection and
 * must not be forwarded: Connection and every header it names, plus the classic list below.
 */

const HOP_BY_HOP = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-authenticate",
  "proxy-authorization",
]);

/** Header names listed in a Connection header value, lowercased. */
function connectionTokens(value: string | null): Set<string> | undefined {
  if (!value) return undefined;
  const tokens = new Set<string>();
  for (const token of value.split(",")) {
    const name = token.trim().toLowerCase();
    if (name && name !== "close" && name !== "keep-alive") tokens.add(name);
  }
  return tokens.size > 0 ? tokens : undefined;
}

export interface ForwardedFacts {
  /** Host header as the client sent it (with port). */
  host: string;
  clientIp: string;
  proto: "http" | "https";
  port: number;
  /** Our Via token, e.g. `1.1 gotunnel-3f2a`. */
  via: string;
}

/**
 * Request headers for the upstream: hop-by-hop and framing fields removed, X-Forwarded-* and Via set, Host preserved
 * or rewritten, route headers added. Returned as pairs so duplicates (e.g. two Cookie lines) survive.
 */
export function upstreamRequestHeaders(
  incoming: Headers,
  facts: ForwardedFacts,
  upstreamHost: string,
  extra: Record<string, string>,
): [string, string][] {
  const named = connectionTokens(incoming.get("connection"));
  const out: [string, string][] = [];
  let forwardedFor: string | undefined;
  let via: string | undefined;
  for (const [name, value] of incoming) {
    if (HOP_BY_HOP.has(name) || named?.has(name)) continue;
    switch (name) {
      // Framing is generated from one validated value (framing.ts), never copied: Bun hands repeated lines over
      // joined ("5, 5"), and a copied value is how proxy and upstream come to disagree (RFC 9112 §6.3, §11.2).
      case "content-length":
      case "host":
      case "x-forwarded-proto":
      case "x-forwarded-host":
      case "x-forwarded-port":
        continue;
      case "x-forwarded-for":
        forwardedFor = value;
        continue;
      case "via":
        via = value;
        continue;
      default:
        out.push([name, value]);
    }
  }
  out.push(
    ["host", upstreamHost],
    ["x-forwarded-for", forwardedFor ? `${forwardedFor}, ${facts.clientIp}` : facts.clientIp],
    ["x-forwarded-proto", facts.proto],
    ["x-forwarded-host", facts.host],
    ["x-forwarded-port", String(facts.port)],
    ["via", via ? `${via}, ${facts.via}` : facts.via],
  );
  return withRouteHeaders(out, extra);
}

/** What routeRequestHeaders needs of a route; router.ts's ProxyRoute satisfies it. */
export interface HeaderRoute {
  target: { hostname: string; port: number; origin: string };
  headers: Record<string, string>;
  preserveHost: boolean;
  rewriteOrigin?: readonly string[];
}

/**
 * Request headers for one route's upstream, for a request to `path` (origin-form): upstreamRequestHeaders with the
 * route's Host choice and extra headers, then its Origin rewrite. forward.ts and websocket.ts both build their
 * upstream request with this, so a dev server sees the same headers on a page load and on its HMR socket.
 */
export function routeRequestHeaders(
  incoming: Headers,
  facts: ForwardedFacts,
  route: HeaderRoute,
  path: string,
): [string, string][] {
  const target = route.target;
  const upstreamHost = route.preserveHost ? facts.host : `${target.hostname}:${target.port}`;
  const pairs = upstreamRequestHeaders(incoming, facts, upstreamHost, route.headers);
  const prefixes = route.rewriteOrigin;
  if (prefixes !== undefined && prefixes.length > 0 && prefixes.some((prefix) => path.startsWith(prefix))) {
    rewriteSameOrigin(pairs, facts, target.origin);
  }
  return pairs;
}

/**
 * A request whose Origin (RFC 6454 §7) is the route's own public origin (`https://myapp.local`, with the port when
 * it is not the scheme's default, as the browser wrote the Host) gets the upstream's origin instead, so a dev server
 * that accepts only its own origin on its dev endpoints (Next.js's allowedDevOrigins check on /_next/ and
 * /__nextjs, next/dist/server/lib/router-utils/block-cross-site-dev.js) sees a same-origin request. Any other
 * Origin, `null` included, passes unchanged: a page on another site is still refused by the dev server itself.
 */
export function rewriteSameOrigin(pairs: [string, string][], facts: ForwardedFacts, upstreamOrigin: string): void {
  const at = indexOfHeader(pairs, "origin");
  if (at === -1) return;
  const origin = (pairs[at] as [string, string])[1].toLowerCase();
  if (origin === `${facts.proto}://${facts.host.toLowerCase()}`) pairs[at] = ["origin", upstreamOrigin];
}

/**
 * Route headers replace same-named ones rather than adding a second copy: two Host lines get a 400 from the
 * upstream (RFC 9112 §3.2), and two X-Forwarded-Proto values leave the app guessing.
 */
function withRouteHeaders(out: [string, string][], extra: Record<string, string>): [string, string][] {
  const names = Object.keys(extra);
  if (names.length === 0) return out;
  const replaced = new Set(names.map((name) => name.toLowerCase()));
  const kept = out.filter(([name]) => !replaced.has(name));
  for (const name of names) kept.push([name.toLowerCase(), extra[name]!]);
  return kept;
}

/** The index of the first pair named `name` (lowercase), or -1. */
export function indexOfHeader(pairs: [string, string][], name: string): number {
  for (let i = 0; i < pairs.length; i++) if ((pairs[i] as [string, string])[0] === name) return i;
  return -1;
}

/** Sets `name` (lowercase) in header pairs: the first pair of that name gets `value`, any others go. */
export function replaceHeader(pairs: [string, string][], name: string, value: string): void {
  const at = indexOfHeader(pairs, name);
  if (at === -1) {
    pairs.push([name, value]);
    return;
  }
  pairs[at] = [name, value];
  for (let i = pairs.length - 1; i > at; i--) if (pairs[i]?.[0] === name) pairs.splice(i, 1);
}

/**
 * Removes hop-by-hop headers from an upstream response in place when the Headers object is mutable, otherwise
 * returns a copy. Returns the Response to send.
 */
export function stripResponseHopHeaders(response: Response): Response {
  const headers = response.headers;
  const named = connectionTokens(headers.get("connection"));
  let dirty = named !== undefined;
  if (!dirty) {
    for (const name of HOP_BY_HOP) {
      if (headers.has(name)) {
        dirty = true;
        break;
      }
    }
  }
  if (!dirty) return response;
  try {
    // The pooled client's Responses have mutable headers: edit in place, no copy on the hot path.
    deleteHopHeaders(headers, named);
    return response;
  } catch (error) {
    // fetch() Responses carry immutable headers (Fetch spec "immutable" guard): copy them instead.
    if (!(error instanceof TypeError)) throw error;
    const copy = new Headers(headers);
    deleteHopHeaders(copy, named);
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers: copy });
  }
}

function deleteHopHeaders(headers: Headers, named: Set<string> | undefined): void {
  for (const name of HOP_BY_HOP) headers.delete(name);
  if (named) for (const name of named) headers.delete(name);
}

/** True when the Via chain already holds our token: the request went through this proxy before. */
export function isLoop(incoming: Headers, viaToken: string): boolean {
  return incoming.get("via")?.includes(viaToken.slice(viaToken.indexOf(" ") + 1)) === true;
}
