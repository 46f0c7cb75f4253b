/** `gotunnel version`: version, commit, build date, Bun version. */
import { buildInfo } from "../core/build-info.ts";
import { jsonArg } from "./args.ts";
import { command } from "./command.ts";
import { printJson, printLine } from "./output.ts";

export default command({
  meta: {
    name: "version",
    description: "Show version, commit, build date and Bun version",
    examples: [["gotunnel version"], ["gotunnel --version", "just the version"], ["gotunnel version --json"]],
  },
  args: { ...jsonArg },
  run({ args }) {
    const info = buildInfo();
    if (args.json) printJson(info);
    else
      printLine(
        `gotunnel ${info.version} (commit ${info.commit}, built ${info.date}, bun ${info.bun}, ${info.platform})`,
      );
  },
});
