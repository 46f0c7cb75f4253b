/** Shared by `up` and `start`: get the daemon (starting it if needed), add routes, render what happened. */
import os from "node:os";
import type { LoadedConfig, ResolvedRoute } from "../config/load.ts";
import { GotunnelError } from "../core/errors.ts";
import type { ControlClient } from "../daemon/control/client.ts";
import { type AddRoutesRequest, type ReadyEvent, readySchema } from "../daemon/control/protocol.ts";
import { runSession, wireRoutes } from "../daemon/session.ts";
import { forceExitOnSecondSignal, nextSignal } from "../daemon/signals.ts";
import { ensureDaemon } from "../daemon/spawn.ts";
import { type DevLaunch, prepareDevServers } from "../devserver/launch.ts";
import { type DevExit, type DevServerSpec, DevServers, exitDescription } from "../devserver/servers.ts";
import { resolvePaths } from "../platform/paths.ts";
import {
  colorOn,
  createDevOutput,
  createRequestLog,
  type DevOutput,
  dim,
  info,
  printDevExit,
  printLine,
  printPairs,
  warn,
  withProgress,
} from "./output.ts";

export interface ServeOptions {
  json: boolean;
  owner: AddRoutesRequest["owner"];
  /** true: the routes stay after this command returns (start, up --detach); false: an `up` session. */
  persistent: boolean;
  force: boolean;
  /** `--wait-timeout`: how long dev servers get to answer, for routes whose config says nothing. */
  waitTimeoutMs?: number;
}

function renderReady(ready: ReadyEvent, json: boolean, footer: string, sent: AddRoutesRequest): void {
  if (ready.hostsWarning) warn(ready.hostsWarning);
  warnIfOneBackend(sent, ready);
  for (const note of ready.hostsSkipped ?? []) warn(note);
  if (json) {
    const { hostsWarning: _warning, hostsSkipped: _skipped, ...line } = ready;
    printLine(JSON.stringify(line));
    return;
  }
  if (ready.ca.created) info(`created a local CA: ${ready.ca.path}`);
  printPairs(ready.routes.map((route) => [route.url, route.targets?.join(", ") ?? route.target]));
  printLine(dim(`  CA ${ready.ca.path} · ${footer}`));
}

/**
 * A daemon from before several backends existed accepts `targets` and drops them (the protocol's schemas ignore keys
 * they do not know), serving the first backend only; its ready line then has no `targets`. Say so, with the fix.
 */
function warnIfOneBackend(sent: AddRoutesRequest, ready: ReadyEvent): void {
  for (const route of sent.routes) {
    if (route.targets === undefined) continue;
    if (ready.routes.find((served) => served.name === route.name)?.targets !== undefined) continue;
    warn(
      `the running daemon is older than this gotunnel and serves ${route.name} from its first backend only; run \`gotunnel daemon stop\`, then this command again`,
    );
  }
}

async function connect(loaded: LoadedConfig): Promise<ControlClient> {
  return withProgress((progress) =>
    ensureDaemon(resolvePaths(), loaded.config, () => progress.step("starting the gotunnel daemon")),
  );
}

export async function serve(loaded: LoadedConfig, options: ServeOptions): Promise<void> {
  const devRoutes = loaded.config.routes.filter((route) => route.dev !== undefined);
  if (devRoutes.length > 0 && options.persistent) throw detachWithCommands(devRoutes.map((route) => route.name));
  const client = await connect(loaded);
  const format = options.json ? "json" : loaded.config.log.format;
  if (options.persistent) {
    const request = requestFor(loaded.config.routes, loaded, options);
    const ready = await client.request("POST", "/v1/routes", readySchema, request);
    const remove =
      options.owner.kind === "project"
        ? "`gotunnel down` here removes them"
        : `\`gotunnel stop ${ready.routes[0]?.name ?? "NAME"}\` removes it`;
    renderReady(ready, options.json || format === "json", `served by the daemon; ${remove}`, request);
    return;
  }
  const json = options.json || format === "json";
  const output = createDevOutput(
    devRoutes.map((route) => route.name),
    json,
  );
  const launch = prepareDevServers(loaded.config.routes, {
    env: process.env,
    ...(options.waitTimeoutMs === undefined ? {} : { waitTimeoutMs: options.waitTimeoutMs }),
    color: colorOn(process.stdout) && !json,
  });
  let servers: DevServers | undefined;
  try {
    if (launch.specs.length > 0) {
      servers = DevServers.start(launch.specs, devEvents(output, json));
      const interrupted = await untilReady(launch, servers, output, json);
      if (interrupted) {
        // 128 + the signal's number, as shells report it (ExitCode.interrupted for Ctrl-C).
        process.exitCode = 128 + (os.constants.signals[interrupted] ?? 2);
        return;
      }
    }
    const log = createRequestLog(format);
    const onlyDev = devRoutes.length === loaded.config.routes.length;
    const request = requestFor(launch.routes, loaded, options);
    const end = await runSession(client, request, {
      onReady: (ready) => renderReady(ready, json, "Ctrl-C removes these routes", request),
      onRequest: ({ event: _event, ...record }) => log(record),
      onDropped: (count) => warn(`${count} requests were not shown: this terminal fell behind the daemon`),
      onStop: (signal) => {
        if (format === "text") info(`${signal}: removing this session's routes`);
      },
      ...(servers && onlyDev ? { until: servers.allExited().then(allExited) } : {}),
    });
    if ("ended" in end && !json) info(`${end.ended}: stopping`);
  } finally {
    output.doneWaiting();
    forceExitOnSecondSignal();
    await servers?.stop();
  }
}

function requestFor(routes: readonly ResolvedRoute[], loaded: LoadedConfig, options: ServeOptions): AddRoutesRequest {
  return {
    routes: wireRoutes(routes, loaded.config.lan, loaded.config.notify),
    owner: options.owner,
    persistent: options.persistent,
    force: options.force,
  };
}

function devEvents(output: DevOutput, json: boolean) {
  return {
    onLine: (name: string, stream: "stdout" | "stderr", text: string) => output.line(name, stream, text),
    onExit: (exit: DevExit) =>
      printDevExit(
        { ...exit, description: `the dev server ${exitDescription(exit)}; the other routes keep running` },
        json,
      ),
  };
}

/**
 * Shows what gotunnel passed to each command and waits until every one answers on its port. A stop signal during the
 * wait stops them and resolves with the signal; a command that fails stops them all and rejects (E_UPSTREAM).
 */
async function untilReady(
  launch: DevLaunch,
  servers: DevServers,
  output: DevOutput,
  json: boolean,
): Promise<NodeJS.Signals | undefined> {
  if (!json)
    for (const spec of launch.specs) info(`${spec.name}: starting ${describeSpawn(spec)} · ${spec.plan.summary}`);
  const ready = servers.waitUntilReady((names, elapsedMs) => output.waiting(names, elapsedMs));
  try {
    const signal = await Promise.race([ready.then(() => undefined), nextSignal()]);
    if (signal && !json) info(`${signal}: stopping the dev servers`);
    return signal;
  } finally {
    output.doneWaiting();
  }
}

function describeSpawn(spec: DevServerSpec): string {
  const { spawn } = spec.plan;
  return `\`${"argv" in spawn ? spawn.argv.join(" ") : spawn.shell}\``;
}

function allExited(): never {
  throw new GotunnelError("E_UPSTREAM", "every dev server of this session exited, so its routes are removed", {
    hint: "fix what their output above says, then run `gotunnel up` again",
  });
}

function detachWithCommands(names: string[]): GotunnelError {
  return new GotunnelError(
    "E_USAGE",
    `--detach cannot leave ${names.join(", ")} running: gotunnel starts their dev servers, and stops them when \`up\` ends`,
    {
      hint: "run `gotunnel up` without --detach (in its own terminal), or start those servers yourself and give the routes a target",
    },
  );
}
