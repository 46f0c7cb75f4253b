/** `gotunnel down`: remove this project's routes (those `gotunnel up` added from this project directory). */
import { removeRoutesResponseSchema } from "../daemon/control/protocol.ts";
import { runningDaemon } from "../daemon/spawn.ts";
import { resolvePaths } from "../platform/paths.ts";
import { jsonArg, loadCommandConfig } from "./args.ts";
import { command } from "./command.ts";
import { printJson, success } from "./output.ts";

export default command({
  meta: {
    name: "down",
    description: "Remove this project's routes from the daemon",
    examples: [
      ["gotunnel down", "the routes `gotunnel up --detach` added from this directory"],
      ["gotunnel down --config ../shop/gotunnel.config.ts"],
    ],
  },
  args: {
    ...jsonArg,
    config: { type: "string", valueHint: "file", description: "Config file to load instead of discovering one" },
  },
  async run({ args }) {
    // Only the project's directory matters here: a GOTUNNEL_PROFILE this project does not define is no reason to fail.
    const loaded = await loadCommandConfig({ profile: false, ...(args.config ? { configFile: args.config } : {}) });
    const owner = { kind: "project" as const, dir: loaded.projectDir };
    const client = runningDaemon(resolvePaths());
    const { removed } = await client.request("POST", "/v1/routes/remove", removeRoutesResponseSchema, { owner });
    if (args.json) return printJson({ removed });
    success(removed.length === 0 ? `no routes of ${loaded.projectDir} to remove` : `removed ${removed.join(", ")}`);
  },
});
