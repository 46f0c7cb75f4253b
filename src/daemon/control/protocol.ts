/**
 * The control API's shapes: HTTP + JSON over the daemon's unix socket. One valibot schema per message, used by the
 * server to validate what arrives and by the client to validate what comes back. Documented in docs/control-api.md.
 */
import * as v from "valibot";
import { BALANCE_POLICIES, MAX_TARGETS } from "../../config/backends.ts";
import { WEBHOOK_EVENTS } from "../../config/notify.ts";

/** Bumped when a change would break an older CLI talking to a newer daemon (or the reverse). */
export const PROTOCOL_VERSION = 1;

const projectOwner = v.object({ kind: v.literal("project"), dir: v.string() });
const commandOwner = v.object({ kind: v.literal("command"), cwd: v.string() });
/** Who may add and remove routes through the API: `up` in a project (`project`), `start` in a terminal (`command`). */
export const userOwnerSchema = v.variant("kind", [projectOwner, commandOwner]);
/**
 * Who owns a route: a user's command, or the daemon's docker discovery (daemon/discovery.ts) for a running
 * container, named and with its id. Discovered routes are never persisted.
 */
export const ownerSchema = v.variant("kind", [
  projectOwner,
  commandOwner,
  v.object({ kind: v.literal("docker"), container: v.string(), id: v.string() }),
]);
export type Owner = v.InferOutput<typeof ownerSchema>;
export type UserOwner = v.InferOutput<typeof userOwnerSchema>;

export const targetSchema = v.object({
  protocol: v.picklist(["http:", "https:"]),
  hostname: v.string(),
  port: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)),
  origin: v.string(),
});

/** A webhook of the config that added a route (config/notify.ts validated it; docs/webhooks.md). */
export const webhookSchema = v.object({
  url: v.string(),
  secret: v.string(),
  events: v.array(v.picklist(WEBHOOK_EVENTS)),
});

/** A route as the daemon keeps and persists it. */
export const routeRecordSchema = v.object({
  name: v.string(),
  wildcard: v.boolean(),
  target: targetSchema,
  https: v.boolean(),
  headers: v.record(v.string(), v.string()),
  preserveHost: v.boolean(),
  /**
   * Share on the LAN (mDNS, clients other than this machine). Absent: the client's config does not set it, so the
   * daemon's global `lan` applies.
   */
  lan: v.optional(v.boolean()),
  /** Path prefixes where a same-origin request's Origin becomes the target's origin (proxy/headers.ts). */
  rewriteOrigin: v.optional(v.array(v.string())),
  /** Webhooks for this route's events; persisted with it (the state file is the user's alone, 0600). */
  notify: v.optional(v.array(webhookSchema)),
  /**
   * Several backends, `target` first (config/backends.ts); absent for one. `target` stays the first backend, so a
   * state file written before these fields existed loads, and an older gotunnel reads a newer file's routes (valibot
   * drops keys it does not know) as served by their first backend.
   */
  targets: v.optional(v.pipe(v.array(targetSchema), v.minLength(2), v.maxLength(MAX_TARGETS))),
  policy: v.optional(v.picklist(BALANCE_POLICIES)),
  /** The active check of `targets`: GET `path` on each every `intervalMs`. */
  health: v.optional(
    v.object({
      path: v.pipe(v.string(), v.startsWith("/")),
      intervalMs: v.pipe(v.number(), v.integer(), v.minValue(100)),
    }),
  ),
  owner: ownerSchema,
  /** false: removed when the session that added it ends (foreground `up`); true: survives daemon restarts. */
  persistent: v.boolean(),
  addedAt: v.string(),
});

export const addRoutesRequestSchema = v.object({
  routes: v.array(v.omit(routeRecordSchema, ["owner", "persistent", "addedAt"])),
  owner: userOwnerSchema,
  persistent: v.boolean(),
  /** Take over names owned by someone else. */
  force: v.optional(v.boolean(), false),
});
export type AddRoutesRequest = v.InferOutput<typeof addRoutesRequestSchema>;

export const removeRoutesRequestSchema = v.union([
  v.object({ names: v.array(v.string()) }),
  v.object({ owner: userOwnerSchema }),
  v.object({ all: v.literal(true) }),
]);
export type RemoveRoutesRequest = v.InferOutput<typeof removeRoutesRequestSchema>;

/** One backend of a route with several `targets`, as the proxy sees it now (proxy/balancer.ts BackendState). */
export const backendInfoSchema = v.object({
  origin: v.string(),
  /** down: skipped until `retryInMs` has passed (a failed request) or a health check passes. */
  state: v.picklist(["up", "down"]),
  inFlight: v.number(),
  requests: v.number(),
  failures: v.number(),
  retryInMs: v.optional(v.number()),
  /** Why it is down: the last failure. */
  reason: v.optional(v.string()),
  /**
   * Whether it accepted a TCP connection when `list` asked (daemon/probe.ts, as for a route with one target). The
   * proxy's `state` changes only with requests and health checks, so a backend stopped since its last request is
   * still "up" there, and this says so.
   */
  listening: v.optional(v.boolean()),
});
export type BackendInfo = v.InferOutput<typeof backendInfoSchema>;

/** `gotunnel list`: a route without its webhooks, whose secrets are nobody's business on a terminal. */
export const routeInfoSchema = v.object({
  ...v.omit(routeRecordSchema, ["notify"]).entries,
  /** Each of `targets` with its state; absent for a route with one target. */
  backends: v.optional(v.array(backendInfoSchema)),
  url: v.string(),
  requests: v.number(),
  /** Where the route comes from: a user's `start`/`up`, or a container found by docker discovery (`owner` names it). */
  source: v.optional(v.picklist(["user", "docker"])),
  /** `refused`: restored from the state file but not served (`problem` says why and how to fix or remove it). */
  status: v.picklist(["serving", "upstream-down", "refused", "unknown"]),
  problem: v.optional(v.object({ message: v.string(), hint: v.string() })),
});
export type RouteInfo = v.InferOutput<typeof routeInfoSchema>;

export const routesResponseSchema = v.object({ routes: v.array(routeInfoSchema) });

export const errorResponseSchema = v.object({
  error: v.object({ code: v.string(), message: v.string(), hint: v.optional(v.string()) }),
});

export const statusResponseSchema = v.object({
  protocol: v.number(),
  version: v.string(),
  pid: v.number(),
  startedAt: v.string(),
  uptimeMs: v.number(),
  ports: v.object({ https: v.number(), http: v.number() }),
  ca: v.object({ path: v.string(), notAfter: v.string() }),
  hosts: v.object({ path: v.string(), names: v.array(v.string()), warning: v.optional(v.string()) }),
  routes: v.number(),
  stateFile: v.string(),
  logFile: v.optional(v.string()),
  /** The loopback admin listener (health, metrics); absent when its port could not be bound (the daemon serves on without it). */
  admin: v.optional(v.object({ port: v.number(), debugTokenFile: v.optional(v.string()) })),
  /** Why the admin port is not served (in use, e.g. by another user's daemon), and what to set instead. */
  adminUnavailable: v.optional(v.object({ port: v.number(), message: v.string(), hint: v.string() })),
  /** Docker discovery, when turned on: the engine's address, whether it answers now, and the routes it gave. */
  discovery: v.optional(
    v.object({
      docker: v.object({
        engine: v.string(),
        connected: v.boolean(),
        routes: v.number(),
        error: v.optional(v.string()),
      }),
    }),
  ),
});
export type StatusResponse = v.InferOutput<typeof statusResponseSchema>;

/** Every request carries the client's protocol version; the daemon answers 409 to any other version. */
export const PROTOCOL_HEADER = "x-gotunnel-protocol";

const gatewayRouteSchema = v.object({
  name: v.string(),
  url: v.string(),
  /** The first backend's origin; with several, `targets` has every one. */
  target: v.string(),
  targets: v.optional(v.array(v.string())),
});

/** What adding routes returns, and the first line of a session stream (the `up --json` ready line). */
export const readySchema = v.object({
  event: v.literal("ready"),
  routes: v.array(gatewayRouteSchema),
  ports: v.object({ https: v.number(), http: v.number() }),
  ca: v.object({ path: v.string(), created: v.boolean() }),
  /** Names that will not resolve because the hosts file could not be written, with the fix. */
  hostsWarning: v.optional(v.string()),
  /** Added names the hosts file cannot hold (wildcards), each with why. */
  hostsSkipped: v.optional(v.array(v.string())),
});
export type ReadyEvent = v.InferOutput<typeof readySchema>;

/** Each later line of a session stream: one request to one of the session's routes. */
export const requestEventSchema = v.object({
  event: v.literal("request"),
  method: v.string(),
  host: v.string(),
  path: v.string(),
  status: v.number(),
  durationMs: v.number(),
  route: v.optional(v.string()),
  error: v.optional(v.string()),
});
export type RequestEventLine = v.InferOutput<typeof requestEventSchema>;

/**
 * A session line in place of the requests a busy second did not show one by one (control/summary.ts): per route,
 * how many, and how many of each status. Only sessions that ask for it (`POST /v1/sessions?lines=summary`) get one.
 */
export const sessionSummarySchema = v.object({
  event: v.literal("summary"),
  windowMs: v.number(),
  routes: v.array(v.object({ route: v.string(), count: v.number(), statuses: v.record(v.string(), v.number()) })),
});
export type SessionSummaryLine = v.InferOutput<typeof sessionSummarySchema>;

/**
 * The last line of a session stream that the daemon ends itself: another command removed the session's routes
 * (`gotunnel down` in the project while `up` runs). The client stops its dev servers and exits; any other end of the
 * stream means the daemon went away.
 */
export const sessionEndedSchema = v.object({ event: v.literal("ended"), reason: v.string() });
export type SessionEndedLine = v.InferOutput<typeof sessionEndedSchema>;

/**
 * `GET /v1/logs`: one line of the daemon's request log, a request to any route, with when it was answered and,
 * when it was traced, its span's W3C ids (hex). Session lines (above) leave the ids out: `up` prints every request,
 * its text lines never show them, and the daemon would write, and `up` parse, 71 more bytes for every traced
 * request; `gotunnel logs --json` is where a request's trace is found.
 */
export const logLineSchema = v.object({
  time: v.string(),
  ...v.omit(requestEventSchema, ["event"]).entries,
  traceId: v.optional(v.string()),
  spanId: v.optional(v.string()),
});
export type LogLine = v.InferOutput<typeof logLineSchema>;

/** `GET /v1/logs?follow=1`: lines a slow reader missed (the daemon never waits for it), sent before the next one. */
export const logsDroppedSchema = v.object({ event: v.literal("dropped"), count: v.number() });

/** One webhook delivery's outcome (daemon/webhooks/queue.ts DeliveryRecord), for `gotunnel logs --webhooks`. */
export const deliveryRecordSchema = v.object({
  time: v.string(),
  id: v.string(),
  event: v.picklist(WEBHOOK_EVENTS),
  url: v.string(),
  attempt: v.number(),
  outcome: v.picklist(["delivered", "retrying", "failed", "dropped"]),
  status: v.optional(v.number()),
  error: v.optional(v.string()),
  retryInMs: v.optional(v.number()),
});
export type DeliveryLine = v.InferOutput<typeof deliveryRecordSchema>;

/** `GET /v1/webhooks?limit=N`: the last deliveries, oldest first, and the queue's counters. */
export const webhooksResponseSchema = v.object({
  deliveries: v.array(deliveryRecordSchema),
  queued: v.number(),
  delivered: v.number(),
  retried: v.number(),
  failed: v.number(),
  dropped: v.number(),
});
export type WebhooksResponse = v.InferOutput<typeof webhooksResponseSchema>;

export const removeRoutesResponseSchema = v.object({ removed: v.array(v.string()) });
export const okResponseSchema = v.object({ ok: v.literal(true) });

/** One readiness check: `required` ones failing make the daemon not-ready (503); others only degrade it. */
export const healthCheckSchema = v.object({
  name: v.string(),
  ok: v.boolean(),
  required: v.boolean(),
  detail: v.string(),
});
export type HealthCheck = v.InferOutput<typeof healthCheckSchema>;

/** `GET /health/ready` (control socket and admin port). */
export const readinessSchema = v.object({
  status: v.picklist(["ready", "degraded", "not-ready"]),
  version: v.string(),
  checks: v.array(healthCheckSchema),
});
export type Readiness = v.InferOutput<typeof readinessSchema>;
