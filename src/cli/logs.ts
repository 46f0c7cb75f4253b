/**
 * `gotunnel logs [name] [-f] [-n N] [--json]`: the daemon's request log, for one route or all of them.
 * `gotunnel logs --webhooks [-n N] [--json]`: the last webhook deliveries and what became of them.
 */
import { GotunnelError } from "../core/errors.ts";
import { webhooksResponseSchema } from "../daemon/control/protocol.ts";
import { runningDaemon } from "../daemon/spawn.ts";
import { tailLogs } from "../daemon/tail.ts";
import { resolvePaths } from "../platform/paths.ts";
import { jsonArg } from "./args.ts";
import { command } from "./command.ts";
import { info, printDelivery, printJson, printRequest, warn } from "./output.ts";

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
      ["gotunnel logs --webhooks", "the last webhook deliveries: event, URL, outcome, attempt"],
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
    webhooks: {
      type: "boolean",
      description: "The last webhook deliveries instead (the daemon keeps 200): event, URL, outcome, attempt",
    },
  },
  async run({ args }) {
    const limit = linesFlag(args.lines);
    if (args.webhooks) return webhookLog(args, limit);
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

async function webhookLog(args: { json?: boolean; follow?: boolean; name?: string }, limit: number | undefined) {
  if (args.follow || args.name) {
    throw new GotunnelError("E_USAGE", "--webhooks shows every webhook's last deliveries: it takes no name and no -f", {
      hint: "run `gotunnel logs --webhooks` again to see newer ones",
    });
  }
  const query = limit === undefined ? "" : `?limit=${limit}`;
  const log = await runningDaemon(resolvePaths()).request("GET", `/v1/webhooks${query}`, webhooksResponseSchema);
  if (args.json) return printJson(log);
  for (const delivery of log.deliveries) printDelivery(delivery);
  const { delivered, retried, failed, dropped, queued } = log;
  info(`${delivered} delivered, ${retried} retried, ${failed} failed, ${dropped} dropped; ${queued} waiting`);
}
