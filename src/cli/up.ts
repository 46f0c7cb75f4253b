/** `gotunnel up`: the project's routes (gotunnel.config.*, .gotunnelrc, package.json#gotunnel) as a daemon session. */
import { defineCommand } from "citty";
import { loadConfig } from "../config/load.ts";
import { globalArgs, jsonArg, overridesFrom, requireRoutes } from "./args.ts";
import { serve } from "./serve.ts";

export default defineCommand({
  meta: {
    name: "up",
    description: "Add this project's routes to the daemon and stream their requests (Ctrl-C removes them)",
  },
  args: {
    ...globalArgs,
    ...jsonArg,
    config: { type: "string", valueHint: "file", description: "Config file to load instead of discovering one" },
    detach: {
      type: "boolean",
      description: "Leave the routes in the daemon and return (`gotunnel down` removes them)",
    },
    force: { type: "boolean", description: "Take over names another project or command serves" },
  },
  async run({ args }) {
    const loaded = await loadConfig({ cwd: process.cwd(), overrides: overridesFrom(args) });
    requireRoutes(loaded, "run `gotunnel start --domain myapp --port 3000`");
    await serve(loaded, {
      json: args.json === true,
      owner: { kind: "project", dir: loaded.projectDir },
      persistent: args.detach === true,
      force: args.force === true,
    });
  },
});
