/** Shared by `up` and `start`: get the daemon (starting it if needed), add routes, render what happened. */
import type { LoadedConfig } from "../config/load.ts";
import type { ControlClient } from "../daemon/control/client.ts";
import { type AddRoutesRequest, type ReadyEvent, readySchema } from "../daemon/control/protocol.ts";
import { runSession, wireRoutes } from "../daemon/session.ts";
import { ensureDaemon } from "../daemon/spawn.ts";
import { resolvePaths } from "../platform/paths.ts";
import { createRequestLog, dim, info, printLine, printPairs, warn } from "./output.ts";

export interface ServeOptions {
  json: boolean;
  owner: AddRoutesRequest["owner"];
  /** true: the routes stay after this command returns (start, up --detach); false: an `up` session. */
  persistent: boolean;
  force: boolean;
}

function renderReady(ready: ReadyEvent, json: boolean, footer: string): void {
  if (ready.hostsWarning) warn(ready.hostsWarning);
  for (const note of ready.hostsSkipped ?? []) warn(note);
  if (json) {
    const { hostsWarning: _warning, hostsSkipped: _skipped, ...line } = ready;
    printLine(JSON.stringify(line));
    return;
  }
  if (ready.ca.created) info(`created a local CA: ${ready.ca.path}`);
  printPairs(ready.routes.map((route) => [route.url, route.target]));
  printLine(dim(`  CA ${ready.ca.path} · ${footer}`));
}

async function connect(loaded: LoadedConfig): Promise<ControlClient> {
  return ensureDaemon(resolvePaths(), loaded.config);
}

export async function serve(loaded: LoadedConfig, options: ServeOptions): Promise<void> {
  const client = await connect(loaded);
  const request: AddRoutesRequest = {
    routes: wireRoutes(loaded.config.routes, loaded.config.lan),
    owner: options.owner,
    persistent: options.persistent,
    force: options.force,
  };
  const format = options.json ? "json" : loaded.config.log.format;
  if (options.persistent) {
    const ready = await client.request("POST", "/v1/routes", readySchema, request);
    const remove =
      options.owner.kind === "project"
        ? "`gotunnel down` here removes them"
        : `\`gotunnel stop ${ready.routes[0]?.name ?? "NAME"}\` removes it`;
    renderReady(ready, options.json || format === "json", `served by the daemon; ${remove}`);
    return;
  }
  const log = createRequestLog(format);
  await runSession(client, request, {
    onReady: (ready) => renderReady(ready, options.json || format === "json", "Ctrl-C removes these routes"),
    onRequest: ({ event: _event, ...record }) => log(record),
    onDropped: (count) => warn(`${count} requests were not shown: this terminal fell behind the daemon`),
    onStop: (signal) => {
      if (format === "text") info(`${signal}: removing this session's routes`);
    },
  });
}
