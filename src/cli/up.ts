/** `gotunnel up`: serve the project's routes (gotunnel.config.*, .gotunnelrc, package.json#gotunnel). */
import { defineCommand } from "citty";
import { loadConfig } from "../config/load.ts";
import { GotunnelError } from "../core/errors.ts";
import { globalArgs, jsonArg, overridesFrom } from "./args.ts";
import { serve } from "./serve.ts";

export default defineCommand({
  meta: { name: "up", description: "Serve this project's routes over HTTPS in the foreground (Ctrl-C stops)" },
  args: {
    ...globalArgs,
    ...jsonArg,
    config: { type: "string", valueHint: "file", description: "Config file to load instead of discovering one" },
  },
  async run({ args }) {
    const loaded = await loadConfig({ cwd: process.cwd(), overrides: overridesFrom(args) });
    if (loaded.config.routes.length === 0) {
      throw new GotunnelError("E_CONFIG_INVALID", `no routes to serve in ${loaded.projectDir}`, {
        hint: 'create gotunnel.config.json with {"routes": {"myapp.local": 3000}}, or run `gotunnel start --domain myapp --port 3000`',
        details: { files: loaded.files },
      });
    }
    await serve(loaded.config, { json: args.json === true });
  },
});
