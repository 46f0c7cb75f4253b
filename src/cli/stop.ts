/** `gotunnel stop <name>`: remove one route, by its exact name or its short name (`api` → `api.local`). */
import { GotunnelError } from "../core/errors.ts";
import { closest } from "../core/suggest.ts";
import { removeRoutesResponseSchema, routesResponseSchema } from "../daemon/control/protocol.ts";
import { runningDaemon } from "../daemon/spawn.ts";
import { resolvePaths } from "../platform/paths.ts";
import { jsonArg } from "./args.ts";
import { command } from "./command.ts";
import { printJson, success } from "./output.ts";

export default command({
  meta: {
    name: "stop",
    description: "Remove a route (`stop api` removes api.local)",
    examples: [["gotunnel stop myapp", "removes myapp.local"], ["gotunnel stop api.test"]],
    complete: { domain: "routes" },
  },
  args: { ...jsonArg, domain: { type: "positional", required: true, description: "Route name" } },
  async run({ args }) {
    const client = runningDaemon(resolvePaths());
    const { removed } = await client.request("POST", "/v1/routes/remove", removeRoutesResponseSchema, {
      names: [args.domain],
    });
    if (removed.length === 0) {
      const { routes } = await client.request("GET", "/v1/routes", routesResponseSchema);
      const guess = closest(
        args.domain,
        routes.map((route) => route.name),
      );
      throw new GotunnelError("E_USAGE", `no route named ${args.domain}`, {
        hint: guess ? `did you mean \`gotunnel stop ${guess}\`?` : "see the routes with `gotunnel list`",
      });
    }
    if (args.json) return printJson({ removed });
    success(`removed ${removed.join(", ")}`);
  },
});
