/** `gotunnel status`: the daemon's pid, ports, uptime, CA, hosts-file state and route count. */
import type { StatusResponse } from "../daemon/control/protocol.ts";
import { runningDaemon } from "../daemon/spawn.ts";
import { resolvePaths } from "../platform/paths.ts";
import { caHealth } from "../tls/expiry.ts";
import { jsonArg } from "./args.ts";
import { command } from "./command.ts";
import { printJson, printPairs, warn } from "./output.ts";

export default command({
  meta: {
    name: "status",
    description: "Show the daemon: pid, ports, admin endpoints, uptime, CA, hosts file, routes",
    examples: [["gotunnel status"], ["gotunnel status --json"]],
  },
  args: { ...jsonArg },
  async run({ args }) {
    const status = await runningDaemon(resolvePaths()).status();
    if (args.json) return printJson(status);
    printPairs([
      ["daemon", `pid ${status.pid}, version ${status.version}, up ${Math.round(status.uptimeMs / 1000)} s`],
      ["ports", `https ${status.ports.https}, http ${status.ports.http}`],
      ["admin", adminLine(status)],
      ["routes", String(status.routes)],
      ...(status.discovery ? [["docker", dockerLine(status.discovery.docker)] as [string, string]] : []),
      ["CA", `${status.ca.path} (until ${status.ca.notAfter.slice(0, 10)})`],
      ["hosts file", `${status.hosts.path}: ${status.hosts.names.join(", ") || "no entries"}`],
      ["state", status.stateFile],
      ...(status.logFile ? [["log", status.logFile] as [string, string]] : []),
    ]);
    if (status.adminUnavailable) warn(`${status.adminUnavailable.message}\n${status.adminUnavailable.hint}`);
    if (status.hosts.warning) warn(status.hosts.warning);
    const { warning } = caHealth({ notAfter: new Date(status.ca.notAfter) });
    if (warning) warn(warning);
  },
});

/** Docker discovery: which engine, whether it answers, and how many routes it gave. */
function dockerLine(docker: NonNullable<StatusResponse["discovery"]>["docker"]): string {
  const routes = `${docker.routes} route${docker.routes === 1 ? "" : "s"}`;
  if (docker.connected) return `following ${docker.engine}: ${routes}`;
  return `${docker.engine} not reachable${docker.error ? ` (${docker.error})` : ""}; retrying`;
}

/** Where Prometheus and health checks reach the daemon, or why they cannot (a port another daemon holds). */
function adminLine(status: StatusResponse): string {
  if (status.admin) return `http://127.0.0.1:${status.admin.port} (/metrics, /health/ready)`;
  if (status.adminUnavailable) return `not served: port ${status.adminUnavailable.port} is taken (see below)`;
  return "off (proxy.adminPort: false); the control socket answers `gotunnel health`";
}
