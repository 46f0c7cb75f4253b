/**
 * Readiness: what `GET /health/ready` and `gotunnel health` report. Listeners and a valid CA are required (without
 * them nothing can be served: not-ready, 503); a dev server that is down or a CA near expiry only degrades the daemon
 * (200), because every other route still works and a dev server being stopped is normal.
 */
import { buildInfo } from "../core/build-info.ts";
import { caHealth } from "../tls/expiry.ts";
import type { HealthCheck, Readiness, RouteInfo, StatusResponse } from "./control/protocol.ts";

/** What readiness reads from the daemon service. */
export interface HealthSource {
  status(): StatusResponse;
  /** Each route with its upstream probed now. */
  routes(): Promise<RouteInfo[]>;
}

export async function readiness(source: HealthSource, now: Date = new Date()): Promise<Readiness> {
  const status = source.status();
  const checks = [...serverChecks(status, now), ...(await source.routes()).map(upstreamCheck)];
  return { status: overall(checks), version: buildInfo().version, checks };
}

export function overall(checks: readonly HealthCheck[]): Readiness["status"] {
  if (checks.some((check) => check.required && !check.ok)) return "not-ready";
  return checks.every((check) => check.ok) ? "ready" : "degraded";
}

/** 503 only for not-ready: a degraded daemon still serves, so load balancers and HEALTHCHECKs should keep it. */
export function readinessHttpStatus(result: Readiness): number {
  return result.status === "not-ready" ? 503 : 200;
}

function serverChecks(status: StatusResponse, now: Date): HealthCheck[] {
  const { https, http } = status.ports;
  const bound = https > 0 && http > 0;
  const ca = caHealth({ notAfter: new Date(status.ca.notAfter) }, now);
  return [
    { name: "listeners", ok: bound, required: true, detail: `https ${https}, http ${http}` },
    {
      name: "certificates",
      ok: ca.daysLeft >= 0,
      required: true,
      detail: ca.daysLeft >= 0 ? `CA loaded from ${status.ca.path}` : `CA expired on ${status.ca.notAfter}`,
    },
    { name: "ca-expiry", ok: ca.warning === undefined, required: false, detail: `${ca.daysLeft} day(s) left` },
  ];
}

function upstreamCheck(route: RouteInfo): HealthCheck {
  if (route.problem) {
    return { name: `route:${route.name}`, ok: false, required: false, detail: `not served: ${route.problem.message}` };
  }
  const ok = route.status !== "upstream-down";
  if (route.backends) {
    const up = route.backends.filter((backend) => backend.state === "up" && backend.listening !== false);
    const names = (list: typeof up) => list.map((backend) => backend.origin).join(", ");
    const down = route.backends.filter((backend) => !up.includes(backend));
    const detail = `${up.length} of ${route.backends.length} backends up${down.length > 0 ? `; down: ${names(down)}` : ""}`;
    return { name: `upstream:${route.name}`, ok: ok && down.length === 0, required: false, detail };
  }
  const target = route.target.origin;
  return {
    name: `upstream:${route.name}`,
    ok,
    required: false,
    detail: ok ? `${target} accepts connections` : `${target} refuses connections`,
  };
}
