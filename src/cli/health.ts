/**
 * `gotunnel health`: for Docker HEALTHCHECK and scripts. Exit 0 when the daemon is ready or degraded (it serves; the
 * failed checks are printed), 9 when it runs but is not ready, 7 when it is not running (README, "Exit codes").
 */
import { ExitCode } from "../core/errors.ts";
import { runningDaemon } from "../daemon/spawn.ts";
import { resolvePaths } from "../platform/paths.ts";
import { jsonArg } from "./args.ts";
import { command } from "./command.ts";
import { printJson, printLine, warn } from "./output.ts";

export default command({
  meta: {
    name: "health",
    description: "Check the daemon: exit 0 when ready (or degraded), 9 when not ready",
    examples: [
      ["gotunnel health", "for scripts and Docker HEALTHCHECK"],
      ["gotunnel health --json", "every check, passed or not"],
    ],
  },
  args: { ...jsonArg },
  async run({ args }) {
    const result = await runningDaemon(resolvePaths()).readiness();
    if (args.json) printJson(result);
    else {
      printLine(`gotunnel ${result.version}: ${result.status}`);
      for (const check of result.checks) if (!check.ok) warn(`${check.name}: ${check.detail}`);
    }
    // Not an error value: the report above already says what failed, in the format asked for; only the code differs.
    if (result.status === "not-ready") process.exitCode = ExitCode.notReady;
  },
});
