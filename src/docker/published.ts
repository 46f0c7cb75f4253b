/**
 * Which published port of a labelled container a route goes to. `gotunnel.port` names the container port when it
 * publishes several; without it, the lowest published TCP port, as Traefik's Docker provider does
 * (https://doc.traefik.io/traefik/providers/docker/#port-detection). Pure, so the rules are unit-tested.
 */
import type { ContainerSummary, PublishedPort } from "./engine.ts";

export const ROUTE_LABEL = "gotunnel.route";
export const PORT_LABEL = "gotunnel.port";

/** Where a container's route goes: a host and port on the engine's machine. */
export type PortChoice = { hostname: string; port: number; containerPort: number } | { problem: string };

/** Wildcard binds mean "every address of the engine's host": reach them where the engine is. */
const ANY_ADDRESSES = new Set(["", "0.0.0.0", "::"]);

/**
 * `engineHost` is where published ports are reached: 127.0.0.1 for an engine on a unix socket, the host of a
 * tcp:// DOCKER_HOST otherwise.
 */
export function choosePort(container: ContainerSummary, engineHost: string): PortChoice {
  const tcp = container.ports.filter((port) => port.protocol === "tcp");
  const wanted = container.labels[PORT_LABEL]?.trim();
  if (wanted !== undefined && wanted !== "") {
    if (!/^[0-9]{1,5}$/.test(wanted) || Number(wanted) < 1 || Number(wanted) > 65535) {
      return { problem: `label ${PORT_LABEL}=${wanted} is not a port number (1-65535)` };
    }
    const matching = tcp.filter((port) => port.privatePort === Number(wanted));
    if (matching.length === 0) {
      return {
        problem: `label ${PORT_LABEL}=${wanted}, but container port ${wanted}/tcp is not published${listed(tcp)}`,
      };
    }
    return reach(matching, engineHost);
  }
  if (tcp.length === 0) {
    return { problem: "it publishes no TCP port: run it with -p 127.0.0.1::PORT (or -p PORT), or remove the label" };
  }
  const lowest = Math.min(...tcp.map((port) => port.privatePort));
  return reach(
    tcp.filter((port) => port.privatePort === lowest),
    engineHost,
  );
}

/** One container port may be published on IPv4 and IPv6 (Docker lists both): IPv4 first. */
function reach(ports: PublishedPort[], engineHost: string): PortChoice {
  const sorted = [...ports].sort((a, b) => Number(a.ip.includes(":")) - Number(b.ip.includes(":")));
  const first = sorted[0] as PublishedPort;
  const hostname = ANY_ADDRESSES.has(first.ip) ? engineHost : first.ip;
  return { hostname, port: first.publicPort, containerPort: first.privatePort };
}

function listed(ports: PublishedPort[]): string {
  if (ports.length === 0) return " (it publishes none)";
  return ` (it publishes ${[...new Set(ports.map((port) => port.privatePort))].join(", ")})`;
}
