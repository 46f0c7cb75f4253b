/** `gotunnel run [--config F] [--wait-timeout 60s] -- <command…>`: serve, wait for upstreams, run, tear down. */
import type { ResolvedRoute } from "../config/load.ts";
import { parseDurationMs } from "../core/duration.ts";
import { GotunnelError } from "../core/errors.ts";
import { globalArgs, loadCommandConfig, overridesFrom, requireRoutes } from "./args.ts";
import { command } from "./command.ts";
import { note, withProgress } from "./output.ts";

export function parseDuration(flag: string, value: string): number {
  const ms = parseDurationMs(value);
  if (ms === undefined) {
    throw new GotunnelError(
      "E_USAGE",
      `--${flag} expects a duration like 60s, 1500ms or 2m, got ${JSON.stringify(value)}`,
      {
        hint: `e.g. \`--${flag} 90s\``,
      },
    );
  }
  return ms;
}

export default command({
  meta: {
    name: "run",
    description:
      "CI mode: serve the routes (ephemeral CA, no system changes), wait for upstreams, run the command after `--`, and return its exit code",
    usage: ["[options] -- <command…>"],
    examples: [
      ["gotunnel run -- npm test", "the routes of ./gotunnel.config.* while npm test runs"],
      ["gotunnel run --wait-timeout 2m -- npx playwright test"],
      ["gotunnel run -- sh -c 'curl -fsS $GOTUNNEL_URL_MYAPP_LOCAL'", "a shell for variables and pipes"],
    ],
  },
  args: {
    ...globalArgs,
    config: { type: "string", valueHint: "file", description: "Config file to load instead of discovering one" },
    "wait-timeout": {
      type: "string",
      default: "60s",
      valueHint: "duration",
      description: "How long to wait for every upstream to answer",
    },
  },
  async run({ args }) {
    const command = args._.map(String);
    if (command.length === 0) {
      throw new GotunnelError("E_USAGE", "no command to run", { hint: "e.g. `gotunnel run -- npm run smoke`" });
    }
    const waitTimeoutMs = parseDuration("wait-timeout", args["wait-timeout"]);
    const overrides = overridesFrom(args);
    const loaded = await loadCommandConfig(overrides);
    requireRoutes(loaded, "pass --config");
    requireTargets(loaded.config.routes);
    const env = process.env;
    const explicitPorts = {
      https:
        overrides.proxy?.httpsPort !== undefined ||
        env.GOTUNNEL_PROXY_HTTPS_PORT !== undefined ||
        loaded.config.proxy.httpsPort !== 443,
      http:
        overrides.proxy?.httpPort !== undefined ||
        env.GOTUNNEL_PROXY_HTTP_PORT !== undefined ||
        loaded.config.proxy.httpPort !== 80,
    };
    const { ciRun } = await import("../daemon/ci-run.ts");
    const code = await withProgress((progress) =>
      ciRun({
        config: loaded.config,
        command,
        waitTimeoutMs,
        explicitPorts,
        onStatus: note,
        onStep: (label) => (label === undefined ? progress.done() : progress.step(label)),
      }),
    );
    process.exitCode = code;
  },
});

/**
 * `run` does not start dev servers (only `up` does): a route whose port gotunnel would pick has no upstream to wait
 * for here. A route with a `command` and a `port` is waited for on that port, like any other.
 */
function requireTargets(routes: readonly ResolvedRoute[]): void {
  const portless = routes.filter((route) => route.dev !== undefined && route.dev.port === undefined);
  if (portless.length === 0) return;
  const names = portless.map((route) => route.name).join(", ");
  throw new GotunnelError("E_CONFIG_INVALID", `gotunnel run does not start dev servers, and ${names} has no port`, {
    hint: "give each such route a `port` and start its server before `gotunnel run` (or in the command), or use `gotunnel up`",
    details: { routes: portless.map((route) => route.name) },
  });
}
