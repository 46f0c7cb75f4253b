/**
 * The proxy's own responses: 404 for an unknown host, 502 when the upstream cannot be reached, 508 for a loop,
 * 403 for a LAN client on a route that is not shared, 400 for a request whose length is in doubt, 408 when the client
 * stopped sending its body, 499 for a client that left, and the HTTP → HTTPS redirect. HTML for browsers, plain text
 * for curl and scripts.
 */
import { isUnreboundHost } from "../core/local-host.ts";
import type { Refusal } from "../frameworks/refusals.ts";
import type { ProxyRoute } from "./router.ts";

export interface PageContext {
  routes: readonly ProxyRoute[];
  urlOf: (route: ProxyRoute) => string;
  /** The client connected from this machine (a loopback address). */
  loopbackClient: boolean;
}

function wantsHtml(req: Request): boolean {
  return (req.headers.get("accept") ?? "").includes("text/html");
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(req: Request, status: number, title: string, lines: string[], extra: Record<string, string> = {}) {
  const headers: Record<string, string> = { "cache-control": "no-store", "x-gotunnel-error": String(status), ...extra };
  if (!wantsHtml(req)) {
    headers["content-type"] = "text/plain; charset=utf-8";
    return new Response(`${title}\n\n${lines.join("\n")}\n`, { status, headers });
  }
  headers["content-type"] = "text/html; charset=utf-8";
  const body = lines.map((line) => `<p>${escapeHtml(line)}</p>`).join("\n");
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}code{background:#f3f3f3;padding:0 .2rem}small{color:#777}</style></head>
<body><h1>${escapeHtml(title)}</h1>
${body}
<p><small>gotunnel</small></p></body></html>`;
  return new Response(html, { status, headers });
}

/**
 * The route list (names and upstreams) is this machine's business: it is shown to a loopback client that asked for
 * a name no web site can point here (core/local-host.ts isUnreboundHost), so neither a LAN client nor a page in the
 * user's browser that rebound its own name to 127.0.0.1 can read it. Everyone else gets a plain 404.
 */
export function notFoundPage(req: Request, host: string, ctx: PageContext): Response {
  const title = `No gotunnel route for "${host}"`;
  if (!ctx.loopbackClient || !isUnreboundHost(host)) {
    return page(req, 404, title, ["`gotunnel list`, on the computer that runs gotunnel, shows the routes it serves."]);
  }
  const lines =
    ctx.routes.length === 0
      ? ["No routes are configured. Add one to gotunnel.config.ts, or run `gotunnel start --domain myapp --port 3000`."]
      : ["Routes served here:", ...ctx.routes.map((route) => `  ${ctx.urlOf(route)} → ${route.target.origin}`)];
  return page(req, 404, title, lines);
}

/**
 * `local`: the client is on this machine, the one person who can fix the route, so the page names the upstream. A
 * client on the LAN learns nothing about what runs behind the name (its address and port), as with the 404 page.
 */
/** `target`: the backend that failed, for a route with several. */
export function badGatewayPage(
  req: Request,
  route: ProxyRoute,
  reason: string,
  local = true,
  target = route.target,
): Response {
  const { origin, port } = target;
  if (!local) {
    return page(req, 502, `${route.name}: the dev server is not answering`, [
      `gotunnel could not reach the dev server behind ${route.name} (${reason}).`,
      "It may be stopped or restarting; try again in a moment.",
    ]);
  }
  return page(req, 502, `${route.name}: the upstream ${origin} is not answering`, [
    `gotunnel could not reach ${origin} (${reason}).`,
    `Check that your dev server is running and listening on port ${port}, or change the target of "${route.name}" in your gotunnel config.`,
  ]);
}

/** A request gotunnel refuses to forward because its body's length is in doubt (proxy/framing.ts). */
export function badRequestPage(req: Request, reason: string): Response {
  return page(req, 400, "Bad request: its length is ambiguous", [
    `gotunnel did not forward this request: ${reason}.`,
    "Send one Content-Length, or Transfer-Encoding: chunked, not both (RFC 9112 §6).",
  ]);
}

/**
 * What the request log records when the client closed its connection before the upstream answered. Nobody reads
 * this response; 499 is nginx's "client closed request", so the log does not blame the upstream (a 502 would).
 */
const CLIENT_CLOSED_REQUEST = 499;

export function clientClosedResponse(): Response {
  return new Response(null, { status: CLIENT_CLOSED_REQUEST, statusText: "Client Closed Request" });
}

/**
 * The client stopped sending its request body (client-body.ts). Over HTTP/1.1 the connection closes with this answer;
 * over h2 Bun drops the Connection field (RFC 9113 §8.2.2) and only this stream ends, the connection serves on.
 */
export function requestTimeoutPage(req: Request, route: ProxyRoute): Response {
  return page(
    req,
    408,
    `${route.name}: the request body stopped arriving`,
    [
      "gotunnel waited too long for the rest of the request body and gave up.",
      "If this upload is legitimately slow, raise proxy.clientBodyTimeout (GOTUNNEL_CLIENT_BODY_TIMEOUT) in gotunnel's config.",
    ],
    { connection: "close" },
  );
}

export function loopPage(req: Request, route: ProxyRoute, local = true): Response {
  return page(req, 508, `${route.name}: request loop detected`, [
    local
      ? `The route's target ${route.target.origin} sends requests back into gotunnel.`
      : "The route's target sends requests back into gotunnel.",
    "Point the route at your dev server's own port, not at gotunnel's proxy port.",
  ]);
}

/**
 * A client on another machine asked for a route (or, with no route, this proxy) that is kept loopback-only. Its
 * `lan: false` says so itself; a route left unset is refused when nothing on this machine is shared, which happens
 * where the proxy listens on every address only because the OS allows its ports nowhere else (macOS below 1024).
 */
export function lanForbiddenPage(req: Request, host: string, route: ProxyRoute | undefined): Response {
  if (!route) {
    return page(req, 403, "gotunnel is not shared on the LAN", [
      `"${host}" may be opened only from this computer: the global \`lan\` setting is false, or no route is shared.`,
      "To share routes with other devices, set `lan: true` in your gotunnel config.",
    ]);
  }
  if (route.lan !== false) {
    return page(req, 403, `${route.name} is not shared on the LAN`, [
      `"${route.name}" may be opened only from this computer.`,
      `To share it with other devices, set routes["${route.name}"].lan to true in your gotunnel config.`,
    ]);
  }
  return page(req, 403, `${route.name} is not shared on the LAN (lan: false)`, [
    `"${route.name}" may be opened only from this computer, because its \`lan\` setting is false.`,
    `To share it with other devices, set routes["${route.name}"].lan to true in your gotunnel config.`,
  ]);
}

/** 308 keeps the method and body (RFC 9110 §15.4.9), so a POST to http:// is not turned into a GET. */
export function redirectToHttps(req: Request, host: string, httpsPort: number): Response {
  const url = req.url;
  // Bun leaves req.url in origin-form when the Host header is not a valid authority: it is the path already.
  const pathStart = url.startsWith("/") ? 0 : url.indexOf("/", url.indexOf("//") + 2);
  const path = pathStart === -1 ? "/" : url.slice(pathStart);
  const hostOnly = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
  const authority = httpsPort === 443 ? hostOnly : `${hostOnly}:${httpsPort}`;
  return new Response(null, { status: 308, headers: { location: `https://${authority}${path}` } });
}

/**
 * A dev server refused the route's name (frameworks/refusals.ts): its status, and which framework refused what and
 * the lines that fix it, above its own first line. Plain text keeps the upstream's body and adds ours after it.
 */
export function frameworkRefusalPage(req: Request, route: ProxyRoute, refusal: Refusal, status: number, body: string) {
  const fixes = refusal.fixes.map((fix) => `  ${fix}`);
  const title = `${route.name}: ${refusal.framework} refused ${refusal.refused}`;
  const extra = { "x-gotunnel-refused-by": refusal.framework };
  if (!wantsHtml(req)) {
    const text = `${body.replace(/\n*$/, "")}\n\ngotunnel: ${title}\nFix it with one of:\n${fixes.join("\n")}\n`;
    return new Response(text, { status, headers: { "content-type": "text/plain; charset=utf-8", ...extra } });
  }
  const said = body.split("\n").find((line) => line.trim() !== "") ?? "";
  return page(
    req,
    status,
    title,
    ["Fix it with one of:", ...fixes, `${refusal.framework} said: ${said.slice(0, 300)}`],
    extra,
  );
}
