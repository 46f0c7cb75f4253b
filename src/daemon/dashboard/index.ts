/**
 * The dashboard at https://gotunnel.localhost: routes, the live request list, request detail with captured bodies,
 * replay, trust stores and LAN sharing. The daemon mounts `serve` as the proxy's site (proxy/server.ts Site) and
 * builds the source from its service and gateway. Files: guard.ts (who may read or change), views.ts (the JSON),
 * events.ts (the live feed), replay.ts, curl.ts, trust.ts, lan.ts, assets.ts (the page, compiled in).
 */
import { dashboardOrigin } from "../../core/dashboard.ts";
import { isGotunnelError } from "../../core/errors.ts";
import type { SiteClient } from "../../proxy/server.ts";
import type { LocalCA } from "../../tls/ca.ts";
import type { RouteInfo } from "../control/protocol.ts";
import type { RequestLog } from "../request-log.ts";
import { pageHtml, SECURITY_HEADERS, STATIC_FILES } from "./assets.ts";
import { eventStream } from "./events.ts";
import { changeRefusal, newToken, readRefusal } from "./guard.ts";
import { type LanSource, lanPanel, lanQrSvg } from "./lan.ts";
import { replay } from "./replay.ts";
import { trustStatus } from "./trust.ts";
import { requestDetail, requestSummary, routeRows } from "./views.ts";

/** What the dashboard reads from and asks of the daemon. */
export interface DashboardSource {
  ports(): { https: number; http: number };
  routes(): Promise<RouteInfo[]>;
  certificates(): Promise<{ certificate: string; notAfter: Date }[]>;
  log: RequestLog;
  removeRoute(name: string): Promise<string[]>;
  ca: LocalCA;
  lan: LanSource;
  version: string;
}

/** The live list's first screen: the newest requests of the log (the page keeps at most as many). */
const INITIAL_REQUESTS = 200;

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { ...SECURITY_HEADERS, "content-type": "application/json; charset=utf-8" },
  });
const problem = (status: number, message: string, hint?: string) =>
  json({ error: { message, ...(hint ? { hint } : {}) } }, status);

export class Dashboard {
  /** Routes whose bodies are captured now (proxy/capture.ts): the proxy's `captures` hook reads this set. */
  readonly capturing = new Set<string>();
  readonly token = newToken();
  private readonly trust: ReturnType<typeof trustStatus>;
  /** Aborted by close(): ends every event stream. */
  private readonly closing = new AbortController();

  constructor(private readonly source: DashboardSource) {
    this.trust = trustStatus(source.ca);
  }

  readonly serve = async (req: Request, client: SiteClient): Promise<Response> => {
    const read = readRefusal(req.headers.get("host"), client.ip);
    if (read) return problem(read.status, read.reason);
    const { pathname } = new URL(req.url);
    try {
      if (req.method === "GET" || req.method === "HEAD") return await this.get(req, pathname, client);
      if (req.method !== "POST") return problem(405, `${req.method} is not allowed here`);
      // Read before answering, even a refusal: an h2 answer sent while the request body is still unread was cut
      // with a stream error (curl: "(92) Stream error in the HTTP/2 framing layer") about one time in ten.
      const body = await req.text();
      const origin = dashboardOrigin(this.source.ports().https);
      const refused = changeRefusal(req.headers, client.ip, origin, this.token);
      if (refused) return problem(refused.status, refused.reason);
      return await this.post(body, pathname);
    } catch (error) {
      if (isGotunnelError(error)) return problem(409, error.message, error.hint);
      throw error;
    }
  };

  private async get(req: Request, pathname: string, client: SiteClient): Promise<Response> {
    if (pathname === "/") {
      return new Response(pageHtml(this.token), {
        headers: { ...SECURITY_HEADERS, "content-type": "text/html; charset=utf-8" },
      });
    }
    const file = STATIC_FILES[pathname];
    if (file) return new Response(file[0], { headers: { ...SECURITY_HEADERS, "content-type": file[1] } });
    if (pathname === "/api/state") return json(await this.state());
    if (pathname === "/api/requests") {
      return json({ requests: this.source.log.entries(INITIAL_REQUESTS).map(requestSummary) });
    }
    if (pathname === "/api/events") {
      // An event stream stays open: the listener's idle timer must not cut it (proxy/server.ts).
      client.keepOpen();
      const ended = AbortSignal.any([req.signal, this.closing.signal]);
      return new Response(eventStream(this.source.log, ended), {
        headers: { ...SECURITY_HEADERS, "content-type": "text/event-stream", "x-accel-buffering": "no" },
      });
    }
    const detail = /^\/api\/requests\/(\d+)$/.exec(pathname);
    if (detail) return await this.detail(Number(detail[1]));
    if (pathname === "/api/trust") return json({ stores: await this.trust() });
    if (pathname === "/api/lan") return json(await lanPanel(this.source.lan));
    if (pathname === "/api/lan/qr.svg") {
      const svg = await lanQrSvg(this.source.lan);
      if (!svg) return problem(404, "this computer has no LAN address to share");
      return new Response(svg, { headers: { ...SECURITY_HEADERS, "content-type": "image/svg+xml" } });
    }
    return problem(404, `nothing at ${pathname}`);
  }

  /**
   * Ends the open event streams: the daemon is stopping, and a stream never ends by itself, so an open dashboard
   * would otherwise hold the listener through the whole shutdown grace.
   */
  close(): void {
    this.closing.abort();
  }

  private async state() {
    const [routes, certificates] = await Promise.all([this.source.routes(), this.source.certificates()]);
    // A route removed elsewhere (`gotunnel stop`) stops being captured: a new route of that name starts without.
    for (const name of this.capturing) if (!routes.some((route) => route.name === name)) this.capturing.delete(name);
    return {
      version: this.source.version,
      ports: this.source.ports(),
      ca: { path: this.source.ca.certPath, notAfter: this.source.ca.notAfter.toISOString() },
      routes: routeRows(routes, certificates, this.capturing),
    };
  }

  private async detail(id: number): Promise<Response> {
    const entry = this.source.log.entry(id);
    if (!entry) return problem(404, `request ${id} is no longer in the log`, "the log keeps the newest requests only");
    const route = (await this.source.routes()).find((info) => info.name === entry.event.route);
    const scheme = route?.https === false ? "http" : "https";
    return json(requestDetail(entry, { scheme, caPath: this.source.ca.certPath }));
  }

  private async post(body: string, pathname: string): Promise<Response> {
    const route = /^\/api\/routes\/([^/]+)\/(stop|capture)$/.exec(pathname);
    if (route) {
      const name = decodeURIComponent(route[1] ?? "");
      const known = (await this.source.routes()).find((info) => info.name === name);
      if (!known) return problem(404, `no route named ${name}`);
      if (route[2] === "stop") {
        this.capturing.delete(name);
        return json({ removed: await this.source.removeRoute(name) });
      }
      const { on } = parseObject(body);
      if (typeof on !== "boolean") return problem(400, 'send {"on": true} or {"on": false}');
      if (on) this.capturing.add(name);
      else this.capturing.delete(name);
      return json({ route: name, capture: on });
    }
    const replayed = /^\/api\/requests\/(\d+)\/replay$/.exec(pathname);
    if (replayed) {
      const entry = this.source.log.entry(Number(replayed[1]));
      if (!entry) return problem(404, `request ${replayed[1]} is no longer in the log`);
      const info = (await this.source.routes()).find((candidate) => candidate.name === entry.event.route);
      if (!info) return problem(409, "its route is gone: only a request to a current route can be replayed");
      const result = await replay(entry, {
        ports: this.source.ports(),
        caPem: this.source.ca.certPem,
        https: info.https,
      });
      return json(result);
    }
    return problem(404, `nothing at ${pathname}`);
  }
}

/** A change's JSON body as an object; anything else (no body, not JSON) as an empty one. */
function parseObject(body: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    // Not JSON: the caller says what it expected, as for an empty body.
    return {};
  }
}
