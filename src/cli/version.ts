/** `gotunnel version`: version, commit, build date, Bun version. */
import { defineCommand } from "citty";
import { buildInfo } from "../core/build-info.ts";
import { jsonArg } from "./args.ts";
import { printJson, printLine } from "./output.ts";

export default defineCommand({
  meta: { name: "version", description: "Show version, commit, build date and Bun version" },
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
