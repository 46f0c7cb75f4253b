/** `gotunnel list`: every route the daemon serves, with its owner, status and request count. */
import { type BackendInfo, type RouteInfo, routesResponseSchema } from "../daemon/control/protocol.ts";
import { ownerLabel, shortId } from "../daemon/routes.ts";
import { runningDaemon } from "../daemon/spawn.ts";
import { resolvePaths } from "../platform/paths.ts";
import { jsonArg } from "./args.ts";
import { command } from "./command.ts";
import { info, printJson, printTable, warn } from "./output.ts";

export default command({
  meta: {
    name: "list",
    description: "List every route: name, URL, target, owner, status, requests",
    examples: [["gotunnel list"], ["gotunnel list --json | jq -r '.routes[].url'", "just the URLs"]],
  },
  args: { ...jsonArg },
  async run({ args }) {
    const { routes } = await runningDaemon(resolvePaths()).request("GET", "/v1/routes", routesResponseSchema);
    if (args.json) return printJson({ routes });
    if (routes.length === 0) return info("no routes: add one with `gotunnel start -d NAME -p PORT` or `gotunnel up`");
    printTable([
      ["NAME", "URL", "TARGET", "OWNER", "STATUS", "REQUESTS"],
      ...routes.flatMap((route) => [
        [
          route.name,
          route.url,
          route.backends ? `${route.backends.length} backends, ${route.policy ?? "round_robin"}` : route.target.origin,
          ownerText(route),
          route.status,
          String(route.requests),
        ],
        ...backendRows(route),
      ]),
    ]);
    for (const route of routes) {
      if (route.problem) warn(`${route.name} is not served: ${route.problem.message}\n${route.problem.hint}`);
    }
  },
});

/** A discovered route names its container and id; a user's route not kept across restarts says "(session)". */
function ownerText(route: RouteInfo): string {
  if (route.owner.kind === "docker") return `container ${route.owner.container} ${shortId(route.owner.id)} (docker)`;
  return `${ownerLabel(route.owner)}${route.persistent ? "" : " (session)"}`;
}

/** One indented row per backend of a route with several: its state, what it serves now, and its requests. */
function backendRows(route: RouteInfo): string[][] {
  return (route.backends ?? []).map((backend) => [
    "",
    "",
    `  ${backend.origin}`,
    "",
    stateText(backend),
    String(backend.requests),
  ]);
}

function stateText(backend: BackendInfo): string {
  const idle = backend.listening === false ? ", nothing listening now" : "";
  if (backend.state === "up") return `up${backend.inFlight > 0 ? `, ${backend.inFlight} in flight` : ""}${idle}`;
  const retry = backend.retryInMs === undefined ? "" : `, retried in ${Math.ceil(backend.retryInMs / 1000)} s`;
  return `down${retry}${backend.reason ? ` (${backend.reason})` : ""}`;
}
