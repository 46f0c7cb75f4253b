/**
 * Linux: may the daemon, running as the user, listen on 443 and 80? Ports below
 * `net.ipv4.ip_unprivileged_port_start` (1024 by default) need CAP_NET_BIND_SERVICE (ip(7), capabilities(7)).
 *
 * gotunnel's one-time step is `sudo setcap cap_net_bind_service=+ep <binary>`: a file capability that lets this one
 * program, and nothing else, bind low ports, whoever runs it and however it is started (on demand or by the user
 * unit). The alternatives are worse here: the sysctl lowers the bar for every program of every user, and systemd
 * socket activation hands over sockets bound once, while the daemon binds its ports again on every route change
 * (a new listener with reusePort, then the old one stops: DESIGN.md), which needs the right to bind itself; a user
 * manager cannot grant capabilities either (AmbientCapabilities= needs a system unit).
 */
import { formatCommand } from "../runner.ts";
import type { PortAccess, ServiceContext } from "./types.ts";

/** capabilities(7): CAP_NET_BIND_SERVICE is bit 10 of the capability sets in /proc/<pid>/status. */
const CAP_NET_BIND_SERVICE_BIT = 10n;
/** ip(7) ip_unprivileged_port_start, per network namespace. */
export const UNPRIVILEGED_PORT_START_FILE = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
const DEFAULT_UNPRIVILEGED_PORT_START = 1024;

export function setcapCommand(program: string): string[] {
  return ["sudo", "setcap", "cap_net_bind_service=+ep", program];
}

/** Is CAP_NET_BIND_SERVICE in the `CapEff:` mask of a /proc/<pid>/status text? */
export function effectiveBindCapability(status: string | undefined): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status ?? "")?.[1];
  return hex !== undefined && ((BigInt(`0x${hex}`) >> CAP_NET_BIND_SERVICE_BIT) & 1n) === 1n;
}

/**
 * `getcap FILE` output with cap_net_bind_service in the effective set: `FILE cap_net_bind_service=ep` (libcap 2.4x+)
 * or `FILE = cap_net_bind_service+ep` (older), possibly among other capabilities.
 */
export function getcapGrantsBind(output: string): boolean {
  const flags = /cap_net_bind_service(?:,[\w,]+)?[=+]([a-z]*)/.exec(output)?.[1];
  return flags?.includes("e") ?? false;
}

function listPorts(ports: readonly number[]): string {
  return ports.length === 1 ? `port ${ports[0]} is` : `ports ${ports.join(" and ")} are`;
}

export async function linuxPortAccess(
  context: ServiceContext,
  ports: readonly number[],
  program: string,
): Promise<PortAccess> {
  const setting = Number.parseInt(context.readText(UNPRIVILEGED_PORT_START_FILE)?.trim() ?? "", 10);
  const start = Number.isNaN(setting) ? DEFAULT_UNPRIVILEGED_PORT_START : setting;
  const privileged = ports.filter((port) => port > 0 && port < start);
  if (privileged.length === 0) {
    return { ok: true, how: `ports from ${start} up need no privilege (net.ipv4.ip_unprivileged_port_start)` };
  }
  if (context.uid === 0) return { ok: true, how: "running as root" };
  if (await hasBindCapability(context, program)) {
    return { ok: true, how: `${program} has cap_net_bind_service (\`sudo setcap -r ${program}\` removes it)` };
  }
  const fix = setcapCommand(program);
  return {
    ok: false,
    ports: privileged,
    why:
      `${listPorts(privileged)} below ${start}, which Linux keeps for root. \`${formatCommand(fix)}\` ` +
      "lets this one program (nothing else) listen on them as you, so the daemon never runs as root; " +
      "a new gotunnel binary needs it again",
    fix,
  };
}

async function hasBindCapability(context: ServiceContext, program: string): Promise<boolean> {
  // This process runs that very file: its own effective set is the answer, no getcap needed.
  if (program === context.selfExe) return effectiveBindCapability(context.readText("/proc/self/status"));
  const result = await context.runner.run(["getcap", program]);
  return result.code === 0 && getcapGrantsBind(result.stdout);
}
