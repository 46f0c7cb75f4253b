/**
 * Several backends for one route: `targets`, the `policy` that picks one for each request, and the optional active
 * `health` check. schema.ts puts these fields in the route object; the proxy (proxy/balancer.ts) applies them.
 */
import * as v from "valibot";
import { parseDurationMs } from "../core/duration.ts";
import type { UpstreamTarget } from "./domain.ts";

/** How a route with several targets picks one (proxy/balancer.ts): nginx's and Caddy's names for the same ideas. */
export const BALANCE_POLICIES = ["round_robin", "least_conn", "first"] as const;
export type BalancePolicy = (typeof BALANCE_POLICIES)[number];
/** With several targets and no `policy`: requests take turns, as nginx's and Caddy's default does. */
export const DEFAULT_BALANCE_POLICY: BalancePolicy = "round_robin";
/** A route with more is a mistake, not a dev setup; the bound keeps the proxy's per-request bookkeeping in one word. */
export const MAX_TARGETS = 16;
export const DEFAULT_HEALTH_INTERVAL_MS = 5_000;
/** Probes more often than this would load the dev servers they watch for nothing. */
const MIN_HEALTH_INTERVAL_MS = 100;

/** The active check of a route's backends: `GET path` on each every `intervalMs`; a 2xx or 3xx answer is healthy. */
export interface HealthCheck {
  path: string;
  intervalMs: number;
}

export const policySchema = v.pipe(
  v.picklist(BALANCE_POLICIES, `expected one of ${BALANCE_POLICIES.map((p) => JSON.stringify(p)).join(", ")}`),
  v.description(
    "How a route with several `targets` picks one: round_robin (default, take turns), least_conn (the one with the fewest requests in flight), first (the first healthy one: failover).",
  ),
);

const INTERVAL_EXPECTS = `expected a duration such as "5s", "500ms" or "1m" (at least ${MIN_HEALTH_INTERVAL_MS}ms), or a number of seconds`;

const intervalSchema = v.pipe(
  v.union([v.string(), v.number()], INTERVAL_EXPECTS),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const value = dataset.value;
    const ms = typeof value === "number" ? value * 1000 : parseDurationMs(value);
    if (ms !== undefined && Number.isFinite(ms) && ms >= MIN_HEALTH_INTERVAL_MS) return Math.round(ms);
    addIssue({ message: INTERVAL_EXPECTS });
    return NEVER;
  }),
);

const PATH_EXPECTS = 'expected a path starting with "/", e.g. "/healthz"';

export const healthSchema = v.pipe(
  v.custom<Record<string, unknown>>(
    (input) => typeof input === "object" && input !== null && !Array.isArray(input),
    'expected an object, e.g. { path: "/healthz", interval: "5s" }',
  ),
  v.object({
    path: v.pipe(v.string(PATH_EXPECTS), v.startsWith("/", PATH_EXPECTS), v.regex(/^[^\s#]*$/, PATH_EXPECTS)),
    interval: v.optional(intervalSchema),
  }),
  v.transform(({ path, interval }): HealthCheck => ({ path, intervalMs: interval ?? DEFAULT_HEALTH_INTERVAL_MS })),
  v.description(
    'Active check of each of the route\'s `targets`: GET path every interval (default "5s"); a 2xx or 3xx answer is healthy, anything else takes the backend out until a check passes.',
  ),
);

/** The message for a route object that sets both. */
export const TARGET_AND_TARGETS =
  "give `target` (one backend) or `targets` (several, e.g. targets: [8080, 8081]), not both";
/** The message for `policy` or `health` without `targets`. */
export const ONLY_WITH_TARGETS = "only applies to a route with several `targets`";

/**
 * `target` is the first backend, so everything that knows one target (the request log, `list`, an older gotunnel
 * reading the state file) still has one; `targets` is set only when there are several.
 */
export function backendsOf(
  targets: UpstreamTarget[],
  policy: BalancePolicy | undefined,
  health: HealthCheck | undefined,
) {
  const [first] = targets as [UpstreamTarget, ...UpstreamTarget[]];
  // One backend has no other to turn to: `policy` and `health` would change nothing.
  if (targets.length === 1) return { target: first };
  return {
    target: first,
    targets,
    ...(policy === undefined ? {} : { policy }),
    ...(health === undefined ? {} : { health }),
  };
}
