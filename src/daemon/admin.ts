/**
 * Admin endpoints: health, metrics, version and effective config, and the profiling endpoints (debug.ts). The same handler answers on the control socket and
 * on a loopback TCP port (`proxy.adminPort`, GOTUNNEL_ADMIN_PORT) that Prometheus and Docker HEALTHCHECK can reach.
 * Loopback only: these pages name routes and paths, which are nobody else's business. Documented in docs/control-api.md.
 * The port also answers only a loopback Host (hostRefusal), so a web page cannot read it through DNS rebinding.
 */
import type { Server } from "bun";
import { buildInfo } from "../core/build-info.ts";
import { isLoopbackHost } from "../core/local-host.ts";
import { findPortHolder } from "../platform/port-holder.ts";
import type { BackendState } from "../proxy/balancer.ts";
import { EXPOSITION_CONTENT_TYPE, type Family, writeExposition } from "../telemetry/prometheus.ts";
import { debugResponse } from "./debug.ts";
import type { GatewayGauges } from "./gateway.ts";
import { readiness, readinessHttpStatus } from "./health.ts";
import type { DaemonService } from "./service.ts";

/** The admin listener's address: never beyond this machine, whatever `proxy.host` says. */
export const ADMIN_HOST = "127.0.0.1";

export interface AdminContext {
  service: DaemonService;
  /** The effective config for `/debug/config`: ports, host, lan, paths. gotunnel's config holds no secrets. */
  config(): Record<string, unknown>;
}

/** The admin answer for `pathname`, or undefined when it is not an admin path. Every admin endpoint is GET. */
export async function adminResponse(
  method: string,
  pathname: string,
  ctx: AdminContext,
): Promise<Response | undefined> {
  if (method !== "GET") return undefined;
  switch (pathname) {
    case "/health/live":
      return Response.json({ status: "live" });
    case "/health/ready": {
      const result = await readiness(ctx.service);
      return Response.json(result, { status: readinessHttpStatus(result) });
    }
    case "/metrics":
      return new Response(writeExposition(await daemonFamilies(ctx.service)), {
        headers: { "content-type": EXPOSITION_CONTENT_TYPE },
      });
    case "/version":
      return Response.json(buildInfo());
    case "/debug/config":
      return Response.json(ctx.config());
    default:
      return undefined;
  }
}

/** Everything `/metrics` shows: the request counters plus gauges read at scrape time. */
export async function daemonFamilies(service: DaemonService): Promise<Family[]> {
  const status = service.status();
  const gauges = await service.gauges();
  const info = buildInfo();
  const memory = process.memoryUsage();
  const seconds = (date: Date) => Math.floor(date.getTime() / 1000);
  return [
    gauge("gotunnel_routes_active", "Routes the daemon serves now.", status.routes),
    ...service.metrics.families(),
    service.errors.family(),
    gauge("gotunnel_websocket_connections", "Client WebSockets bridged to dev servers now.", gauges.webSockets),
    {
      name: "gotunnel_upstream_bytes_total",
      help: "Bytes written to (sent) and read from (received) plain-HTTP dev servers, heads and bodies.",
      type: "counter",
      samples: [
        { labels: { direction: "sent" }, value: gauges.upstreamBytes.sent },
        { labels: { direction: "received" }, value: gauges.upstreamBytes.received },
      ],
    },
    {
      name: "gotunnel_certificate_expiry_timestamp_seconds",
      // Leaves renew themselves 30 days before expiry (tls/store.ts); the CA is the one a person must act on.
      help: "When the certificate expires, in Unix seconds. ca: the local CA; default: localhost; else the route.",
      type: "gauge",
      samples: [
        { labels: { certificate: "ca" }, value: seconds(new Date(status.ca.notAfter)) },
        ...gauges.certificates.map(({ certificate, notAfter }) => ({
          labels: { certificate },
          value: seconds(notAfter),
        })),
      ],
    },
    ...(service.webhooks?.families() ?? []),
    ...backendFamilies(gauges.backends),
    gauge("process_resident_memory_bytes", "Resident memory size in bytes.", memory.rss),
    gauge("process_heap_bytes", "JavaScript heap in use, in bytes.", memory.heapUsed),
    {
      name: "gotunnel_build_info",
      help: "Always 1; the labels say which build runs.",
      type: "gauge",
      samples: [{ labels: { version: info.version, commit: info.commit }, value: 1 }],
    },
  ];
}

/** The backends of routes with several `targets`, labelled by route and backend origin; none without such routes. */
function backendFamilies(routes: GatewayGauges["backends"]): Family[] {
  if (routes.length === 0) return [];
  const each = (value: (state: BackendState) => number) =>
    routes.flatMap(({ route, backends }) =>
      backends.map((state) => ({ labels: { route, backend: state.origin }, value: value(state) })),
    );
  return [
    {
      name: "gotunnel_backend_up",
      help: "1 while the backend takes requests, 0 while it is skipped (a failed request or health check).",
      type: "gauge",
      samples: each((state) => (state.state === "up" ? 1 : 0)),
    },
    {
      name: "gotunnel_backend_requests_in_flight",
      help: "Requests and WebSockets the backend is serving now.",
      type: "gauge",
      samples: each((state) => state.inFlight),
    },
    {
      name: "gotunnel_backend_requests_total",
      help: "Requests sent to the backend (each retry on another backend counts there too).",
      type: "counter",
      samples: each((state) => state.requests),
    },
    {
      name: "gotunnel_backend_failures_total",
      help: "Requests the backend failed (refused, reset, connect timeout, 502) and health checks it began failing.",
      type: "counter",
      samples: each((state) => state.failuresTotal),
    },
  ];
}

function gauge(name: string, help: string, value: number): Family {
  return { name, help, type: "gauge", samples: [{ value }] };
}

/**
 * The 403 for a Host that is not loopback, as Caddy's admin API answers ("host not allowed"): a browser page whose
 * name was rebound to 127.0.0.1 sends its own name, while Prometheus, curl and HEALTHCHECKs send the address they
 * dialled. (The control socket needs no such check: a browser cannot open a unix socket.)
 */
function hostRefusal(host: string | null): Response | undefined {
  if (isLoopbackHost(host)) return undefined;
  const message = `host not allowed: ${host === null ? "(none)" : JSON.stringify(host)}; use 127.0.0.1, [::1] or localhost`;
  return Response.json({ error: { code: "E_HOST_NOT_ALLOWED", message } }, { status: 403 });
}

/** Why the admin port is not served, as `gotunnel status` shows it. */
export interface AdminUnavailable {
  port: number;
  message: string;
  hint: string;
}

/** How many ports after the configured one are tried for a suggestion. */
const ALTERNATIVES_TRIED = 100;

/**
 * Binds the admin port. Observability must not cost the user their proxy: a port already in use (the fixed default
 * is the same for every user of the machine, so a second user's daemon meets the first's) is a warning in the
 * daemon log, and `gotunnel status` says who holds it and which port is free instead; the control socket still
 * answers every admin path.
 */
export function startAdminServer(
  port: number,
  ctx: AdminContext,
  warn: (message: string) => void,
  debugToken: string,
): { server: Server<undefined> } | { unavailable: AdminUnavailable } {
  try {
    return {
      server: Bun.serve({
        hostname: ADMIN_HOST,
        port,
        fetch: async (request, server) =>
          hostRefusal(request.headers.get("host")) ??
          (await debugResponse(request, { token: debugToken, server, trim: ctx.service.trim })) ??
          (await adminResponse(request.method, new URL(request.url).pathname, ctx)) ??
          Response.json({ error: { code: "E_NOT_FOUND", message: "no such admin endpoint" } }, { status: 404 }),
      }),
    };
  } catch (error) {
    const unavailable = adminUnavailable(port, error);
    warn(`${unavailable.message}; ${unavailable.hint}`);
    return { unavailable };
  }
}

function adminUnavailable(port: number, error: unknown): AdminUnavailable {
  const code = (error as { code?: string }).code;
  const holder = code === "EADDRINUSE" ? findPortHolder(port) : undefined;
  const why =
    code === "EADDRINUSE"
      ? `is in use${holder ? ` by pid ${holder.pid} (${holder.command})` : " (by another program, or another user's gotunnel)"}`
      : `could not be bound (${String(error)})`;
  const free = freePortAfter(port);
  const suggestion = free === undefined ? "" : `${free} (free now), or `;
  return {
    port,
    message: `admin endpoints not served: ${ADMIN_HOST}:${port} ${why}`,
    hint: `set GOTUNNEL_ADMIN_PORT (or proxy.adminPort) to ${suggestion}0 for any free port, then \`gotunnel daemon stop\` and start again; the control socket still answers \`gotunnel health\``,
  };
}

function freePortAfter(port: number): number | undefined {
  for (let candidate = port + 1; candidate < port + ALTERNATIVES_TRIED && candidate <= 65535; candidate++) {
    try {
      Bun.listen({ hostname: ADMIN_HOST, port: candidate, socket: { data() {} } }).stop(true);
      return candidate;
    } catch {
      // Taken as well: try the next one.
    }
  }
  return undefined;
}
