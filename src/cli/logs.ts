/** `gotunnel logs [name] [-f] [-n N] [--json]`: the daemon's request log, for one route or all of them. */
import { GotunnelError } from "../core/errors.ts";
import { runningDaemon } from "../daemon/spawn.ts";
import { tailLogs } from "../daemon/tail.ts";
import { resolvePaths } from "../platform/paths.ts";
import { jsonArg } from "./args.ts";
import { command } from "./command.ts";
import { printRequest, warn } from "./output.ts";

/** `-n 20` yes; `-n 0`, `-n ten` no. */
function linesFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value) && Number(value) > 0) return Number(value);
  throw new GotunnelError("E_USAGE", `--lines expects a positive whole number, got ${JSON.stringify(value)}`, {
    hint: "e.g. `gotunnel logs -n 20`",
  });
}

export default command({
  meta: {
    name: "logs",
    description: "The daemon's request log for a route, or every route (`-f` follows it)",
    examples: [
      ["gotunnel logs", "the last requests of every route"],
      ["gotunnel logs myapp -f", "myapp.local's, then each new one until Ctrl-C"],
      ["gotunnel logs -n 20 --json", "the last 20, one JSON object per line"],
    ],
    complete: { name: "routes" },
  },
  args: {
    ...jsonArg,
    name: { type: "positional", required: false, description: "Route name (`api` means api.local); default: all" },
    follow: { type: "boolean", alias: "f", description: "Keep printing new requests until Ctrl-C" },
    lines: {
      type: "string",
      alias: "n",
      valueHint: "N",
      description: "Print only the last N buffered requests (the daemon keeps 1000)",
    },
  },
  async run({ args }) {
    const limit = linesFlag(args.lines);
    const format = args.json ? "json" : "text";
    await tailLogs(
      runningDaemon(resolvePaths()),
      { ...(args.name ? { route: args.name } : {}), ...(limit ? { limit } : {}), follow: args.follow === true },
      {
        onLine: (line) => printRequest(format, line),
        onDropped: (count) => warn(`${count} requests were not shown: this terminal fell behind the daemon`),
      },
    );
  },
});
