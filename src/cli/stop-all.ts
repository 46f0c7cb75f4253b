/** `gotunnel stop-all`: remove every route (the daemon keeps running). */
import { removeRoutesResponseSchema } from "../daemon/control/protocol.ts";
import { runningDaemon } from "../daemon/spawn.ts";
import { resolvePaths } from "../platform/paths.ts";
import { jsonArg } from "./args.ts";
import { command } from "./command.ts";
import { printJson, success } from "./output.ts";

export default command({
  meta: {
    name: "stop-all",
    description: "Remove every route (the daemon keeps running)",
    examples: [["gotunnel stop-all"], ["gotunnel stop-all --json", "the names removed"]],
  },
  args: { ...jsonArg },
  async run({ args }) {
    const client = runningDaemon(resolvePaths());
    const { removed } = await client.request("POST", "/v1/routes/remove", removeRoutesResponseSchema, { all: true });
    if (args.json) return printJson({ removed });
    success(removed.length === 0 ? "no routes to remove" : `removed ${removed.join(", ")}`);
  },
});
