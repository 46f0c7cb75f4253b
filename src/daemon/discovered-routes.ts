/**
 * Which routes the running labelled containers ask for (daemon/discovery.ts applies them): the label's name checked
 * like a config's route name, the published port published.ts chooses, each name once. Pure, so the rules are
 * unit-tested; every container it skips comes back as a problem naming the container and the label.
 */
import { checkDomain, parseTarget } from "../config/domain.ts";
import { compareCodeUnits } from "../core/compare.ts";
import type { ContainerSummary } from "../docker/engine.ts";
import { choosePort, ROUTE_LABEL } from "../docker/published.ts";
import { shortId } from "./routes.ts";
import type { RouteRecord } from "./state.ts";

/** `key` is stable across lists (container id and problem), so the caller can say each problem once. */
export interface DiscoveryProblem {
  key: string;
  message: string;
}

export interface WantedRoutes {
  routes: Map<string, RouteRecord>;
  problems: DiscoveryProblem[];
}

/**
 * `engineHost`: where published ports are reached (daemon/discovery.ts). `holds(id)`: whether that container has
 * its route now. A name asked for twice stays with the container that has it; among new ones, the one created
 * first (then by id: engines count creation in whole seconds).
 */
export function wantedRoutes(
  containers: readonly ContainerSummary[],
  engineHost: string,
  holds: (id: string) => boolean,
  now = new Date(),
): WantedRoutes {
  const routes = new Map<string, RouteRecord>();
  const problems: DiscoveryProblem[] = [];
  const ordered = [...containers].sort(
    (a, b) => Number(holds(b.id)) - Number(holds(a.id)) || a.created - b.created || compareCodeUnits(a.id, b.id),
  );
  for (const container of ordered) {
    const record = routeOf(container, engineHost, now, problems);
    if (!record) continue;
    const holder = routes.get(record.name);
    if (holder) {
      problems.push({
        key: `${container.id} ${record.name} taken`,
        message: `${containerText(container)} has ${ROUTE_LABEL}=${record.name} too; the route stays with ${ownerText(holder)}`,
      });
      continue;
    }
    routes.set(record.name, record);
  }
  return { routes, problems };
}

function routeOf(
  container: ContainerSummary,
  engineHost: string,
  now: Date,
  problems: DiscoveryProblem[],
): RouteRecord | undefined {
  const label = container.labels[ROUTE_LABEL] ?? "";
  const check = checkDomain(label);
  if (!check.ok) {
    problems.push({
      key: `${container.id} ${label}`,
      message: `${containerText(container)} has the label ${ROUTE_LABEL}=${JSON.stringify(label)}, which is not a route name: ${check.reason}; it gets no route`,
    });
    return undefined;
  }
  const port = choosePort(container, engineHost);
  if ("problem" in port) {
    problems.push({
      key: `${container.id} ${port.problem}`,
      message: `${containerText(container)} asks for ${check.value.name} with its ${ROUTE_LABEL} label, but ${port.problem}`,
    });
    return undefined;
  }
  const host = port.hostname.includes(":") ? `[${port.hostname}]` : port.hostname;
  const target = parseTarget(`http://${host}:${port.port}`);
  // choosePort returns a port the engine published (1-65535) on an address it listed: always a valid target.
  if (typeof target === "string") throw new Error(`unexpected target for ${containerText(container)}: ${target}`);
  return {
    ...check.value,
    target,
    https: true,
    headers: {},
    preserveHost: true,
    owner: { kind: "docker", container: container.name, id: container.id },
    persistent: false,
    addedAt: now.toISOString(),
  };
}

function containerText(container: ContainerSummary): string {
  return `container ${container.name} (${shortId(container.id)})`;
}

/** `container NAME (short id)` for a discovered route. */
export function ownerText(record: RouteRecord): string {
  return record.owner.kind === "docker"
    ? `container ${record.owner.container} (${shortId(record.owner.id)})`
    : record.name;
}
