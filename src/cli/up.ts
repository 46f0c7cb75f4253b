/**
 * `gotunnel up`: the project's routes (gotunnel.config.*, .gotunnelrc, package.json#gotunnel) as a daemon session,
 * starting the dev servers of routes with a `command`. `gotunnel up NAME -- CMD…` serves one route whose dev server
 * is CMD, with no config file needed (a bare NAME gets `.local`, as in every other command).
 */
import { normalizeDomain } from "../config/domain.ts";
import type { LoadedConfig } from "../config/load.ts";
import { GotunnelError } from "../core/errors.ts";
import { globalArgs, jsonArg, loadCommandConfig, overridesFrom, portFlag, requireRoutes } from "./args.ts";
import { command } from "./command.ts";
import { parseDuration } from "./run.ts";
import { serve } from "./serve.ts";

export default command({
  meta: {
    name: "up",
    description:
      "Add this project's routes to the daemon, start their dev servers, and stream their requests (Ctrl-C stops it all); `up NAME -- CMD…`: one route whose dev server is CMD",
    usage: ["[options]", "NAME [options] -- <command…>"],
    examples: [
      ["gotunnel up", "the routes of ./gotunnel.config.*"],
      ["gotunnel up myapp -- npm run dev", "https://myapp.local; gotunnel starts npm run dev on a free port"],
      ["gotunnel up --detach", "leave the routes in the daemon; `gotunnel down` removes them"],
      ["gotunnel up --json | jq -c 'select(.status >= 500)'", "one JSON object per line"],
    ],
  },
  args: {
    name: {
      type: "positional",
      required: false,
      description: "One route (a bare name gets .local) whose dev server is CMD; no config file needed",
    },
    ...globalArgs,
    ...jsonArg,
    config: { type: "string", valueHint: "file", description: "Config file to load instead of discovering one" },
    detach: {
      type: "boolean",
      description: "Leave the routes in the daemon and return (`gotunnel down` removes them)",
    },
    force: { type: "boolean", description: "Take over names another project or command serves" },
    port: {
      type: "string",
      valueHint: "port",
      description: "With `NAME -- CMD`: the port CMD's server listens on (default: a free port gotunnel passes on)",
    },
    "wait-timeout": {
      type: "string",
      valueHint: "duration",
      description: "How long a dev server gets to answer on its port (default 60s; a route's waitTimeout wins)",
    },
  },
  async run({ args, rawArgs }) {
    const single = singleRoute(rawArgs, args.port);
    const overrides = overridesFrom(args);
    if (single) overrides.routes = { [single.name]: single.route };
    const loaded = await loadCommandConfig(overrides);
    requireRoutes(
      loaded,
      "run `gotunnel up myapp -- npm run dev` (gotunnel starts the dev server), or `gotunnel start --domain myapp --port 3000` (one already running)",
    );
    const waitTimeout = args["wait-timeout"];
    await serve(single ? only(loaded, single.name) : loaded, {
      json: args.json === true,
      owner: { kind: "project", dir: loaded.projectDir },
      persistent: args.detach === true,
      force: args.force === true,
      ...(waitTimeout === undefined ? {} : { waitTimeoutMs: parseDuration("wait-timeout", waitTimeout) }),
    });
  },
});

/** `up NAME -- CMD…` → the route NAME with CMD as its command (argv: it runs without a shell, as typed). */
function singleRoute(rawArgs: string[], port: string | undefined) {
  const dashes = rawArgs.indexOf("--");
  const before = dashes === -1 ? rawArgs : rawArgs.slice(0, dashes);
  const command = dashes === -1 ? [] : rawArgs.slice(dashes + 1);
  const names = positionals(before);
  if (names.length === 0 && command.length === 0) {
    if (port !== undefined)
      throw usage("--port needs a route and its command: `gotunnel up myapp --port 5173 -- vite`");
    return undefined;
  }
  if (names.length !== 1 || command.length === 0) {
    throw usage("`gotunnel up` takes one name and the dev server's command after `--`");
  }
  const devPort = portFlag("port", port);
  if (devPort === 0) throw usage("--port must be the dev server's port, from 1 to 65535");
  const name = normalizeDomain(names[0] as string).name;
  const route = { command, cwd: process.cwd(), ...(devPort === undefined ? {} : { port: devPort }) };
  return { name, route };
}

/** Words that are not flags or flag values (every `up` flag that takes a value is listed here). */
function positionals(words: string[]): string[] {
  const valued = new Set(["--config", "--port", "--wait-timeout", ...Object.keys(globalArgs).map((k) => `--${k}`)]);
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string;
    if (valued.has(word) && !["--debug"].includes(word)) i++;
    else if (!word.startsWith("-")) out.push(word);
  }
  return out;
}

function only(loaded: LoadedConfig, name: string): LoadedConfig {
  return { ...loaded, config: { ...loaded.config, routes: loaded.config.routes.filter((r) => r.name === name) } };
}

function usage(message: string): GotunnelError {
  return new GotunnelError("E_USAGE", message, { hint: "e.g. `gotunnel up myapp -- npm run dev`" });
}
