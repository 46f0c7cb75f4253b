/**
 * How one route's command is started: the framework it runs (from the command, else from package.json's
 * dependencies), the port (the route's `port`, else one the command names, else a free one), the arguments and
 * variables that give the server that port and allow the route's name, and what the proxy must do for it. Pure: the
 * free port and package.json are inputs, so every case is a table row in tests/unit/devserver-plan.test.ts.
 */
import { GotunnelError } from "../core/errors.ts";
import { type Framework, frameworkOfCommand, frameworkOfDependencies } from "../frameworks/index.ts";
import { hostPatterns } from "../frameworks/types.ts";
import { dependencyNames, type PackageJson, readCommand, type Spawn } from "./command.ts";
import { quoteWord } from "./shell-words.ts";

/**
 * Variables that allow a host name in frameworks that read one, set for every command: each is read only by its
 * framework, so it costs nothing elsewhere and also covers a framework the command does not show (a `turbo dev`).
 * frameworks/vite.ts and frameworks/rails.ts say where each is read.
 */
export const ALLOWED_HOSTS_ENV = ["__VITE_ADDITIONAL_SERVER_ALLOWED_HOSTS", "RAILS_DEVELOPMENT_HOSTS"] as const;

export interface LaunchInput {
  /** The route's name (`shop.local`, `*.shop.local`), for messages and for the allowed hosts. */
  name: string;
  command: string | readonly string[];
  /** The route's `port`, when the config gives one. */
  port?: number;
  /** A port nothing listens on now; used when neither the route nor the command names one. */
  freePort: number;
  /** The package.json of the command's directory, if there is one. */
  pkg?: PackageJson;
  /** The environment the command would get without gotunnel (gotunnel's own, then the route's `env`). */
  baseEnv: Readonly<Record<string, string | undefined>>;
}

export interface LaunchPlan {
  spawn: Spawn;
  /** Variables gotunnel sets on top of baseEnv. */
  env: Record<string, string>;
  port: number;
  framework?: { id: Framework["id"]; label: string; from: "command" | "package.json" };
  /** For the route's rewriteOrigin when the config does not set it. */
  rewriteOrigin?: readonly string[];
  /** What gotunnel added, for the user: `Vite: --port 5173 --strictPort`. */
  summary: string;
}

export function planLaunch(input: LaunchInput): LaunchPlan {
  const invocation = readCommand(input.command, input.pkg);
  const { program, args, appendPrefix } = invocation;
  const fromCommand = program === undefined ? undefined : frameworkOfCommand(program, args);
  const framework = fromCommand ?? frameworkOfDependencies(dependencyNames(input.pkg));
  const commandPort = fromCommand?.portInArgs(args);
  if (input.port !== undefined && commandPort !== undefined && input.port !== commandPort) {
    throw new GotunnelError(
      "E_CONFIG_INVALID",
      `routes[${JSON.stringify(input.name)}]: port is ${input.port}, but its command starts ${fromCommand?.label} on port ${commandPort}`,
      { hint: `remove the port from one of them (with neither, gotunnel picks a free port and passes it on)` },
    );
  }
  const port = input.port ?? commandPort ?? input.freePort;
  const added = fromCommand && commandPort === undefined ? fromCommand.portArgs(port, [input.name]) : [];
  if (added.length > 0 && appendPrefix === undefined && !fromCommand?.readsPortEnv && input.port === undefined) {
    throw unreachablePort(input, fromCommand as Framework, port);
  }
  const appended = added.length > 0 && appendPrefix !== undefined ? [...appendPrefix, ...added] : [];
  return {
    spawn: withArgs(invocation.spawn, appended),
    env: { PORT: String(port), ...allowedHostsEnv(input.name, input.baseEnv) },
    port,
    ...(framework
      ? { framework: { id: framework.id, label: framework.label, from: fromCommand ? "command" : "package.json" } }
      : {}),
    ...(framework?.rewriteOrigin ? { rewriteOrigin: framework.rewriteOrigin } : {}),
    summary: summary(framework, fromCommand !== undefined, appended, port),
  };
}

function withArgs(spawn: Spawn, args: string[]): Spawn {
  if (args.length === 0) return spawn;
  if ("argv" in spawn) return { argv: [...spawn.argv, ...args] };
  return { shell: `${spawn.shell} ${args.map(quoteWord).join(" ")}` };
}

/** Each variable lists the route's name after whatever the environment already gave it. */
function allowedHostsEnv(name: string, baseEnv: LaunchInput["baseEnv"]): Record<string, string> {
  const pattern = hostPatterns([name]).join(",");
  const env: Record<string, string> = {};
  for (const variable of ALLOWED_HOSTS_ENV) {
    const given = baseEnv[variable];
    env[variable] = given ? `${given},${pattern}` : pattern;
  }
  return env;
}

function summary(framework: Framework | undefined, inCommand: boolean, appended: string[], port: number): string {
  const how = appended.length > 0 ? appended.filter((arg) => arg !== "--").join(" ") : `PORT=${port}`;
  if (!framework) return `port ${port} (${how})`;
  const seen = inCommand ? "" : " (from package.json)";
  return `${framework.label}${seen}, port ${port} (${how})`;
}

function unreachablePort(input: LaunchInput, framework: Framework, port: number): GotunnelError {
  const example = [typeof input.command === "string" ? input.command : input.command.join(" ")];
  return new GotunnelError(
    "E_CONFIG_INVALID",
    `routes[${JSON.stringify(input.name)}]: gotunnel cannot pass a port to ${framework.label} in \`${example[0]}\` (${framework.label} does not read PORT, and arguments added at the end would not reach it)`,
    {
      hint: `give the route a port and put it in the command yourself, e.g. { command: "… ${framework.portArgs(port, [input.name]).join(" ")}", port: ${port} }`,
      details: { route: input.name },
    },
  );
}
