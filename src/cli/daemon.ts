/** `gotunnel daemon`: run the daemon in the foreground; `gotunnel daemon stop` stops the running one. */
import { defineCommand } from "citty";
import { loadConfig } from "../config/load.ts";
import { GotunnelError } from "../core/errors.ts";
import { recordStartError, runDaemon } from "../daemon/daemon.ts";
import { stopDaemon } from "../daemon/spawn.ts";
import { resolvePaths } from "../platform/paths.ts";
import { globalArgs, overridesFrom } from "./args.ts";
import { info, warn } from "./output.ts";

export default defineCommand({
  meta: { name: "daemon", description: "Run the daemon in the foreground (`gotunnel daemon stop` stops it)" },
  args: {
    ...globalArgs,
    action: { type: "positional", required: false, valueHint: "stop", description: "`stop`: stop the running daemon" },
  },
  async run({ args }) {
    const paths = resolvePaths();
    if (args.action === "stop") {
      const pid = await stopDaemon(paths);
      info(pid === undefined ? "no gotunnel daemon is running" : `stopped the gotunnel daemon (pid ${pid})`);
      return;
    }
    if (args.action !== undefined) {
      throw new GotunnelError("E_USAGE", `unknown daemon action ${JSON.stringify(args.action)}`, {
        hint: "run `gotunnel daemon` to start it in the foreground, or `gotunnel daemon stop`",
      });
    }
    const loaded = await loadConfig({ cwd: process.cwd(), overrides: overridesFrom(args) });
    const log = (level: "info" | "warn", message: string) => (level === "warn" ? warn(message) : info(message));
    const { proxy, lan } = loaded.config;
    await runDaemon({ proxy, ...(lan === undefined ? {} : { lan }), paths, log }).catch((error: unknown) => {
      recordStartError(paths, error);
      throw error;
    });
  },
});
