/** `gotunnel start`: add one route given on the command line (the Go tool's flags) to the daemon, and return. */
import { BALANCE_POLICIES } from "../config/backends.ts";
import { normalizeDomain } from "../config/domain.ts";
import { globalArgs, jsonArg, loadCommandConfig, overridesFrom } from "./args.ts";
import { backendsFrom, policyFlag } from "./backends.ts";
import { command } from "./command.ts";
import { serve } from "./serve.ts";

export default command({
  meta: {
    name: "start",
    description: "Add one domain → local port to the daemon, and return (the route stays until `gotunnel stop`)",
    examples: [
      ["gotunnel start -d myapp -p 3000", "https://myapp.local → localhost:3000"],
      ["gotunnel start -d api.test -p 8080 --no-https", "http://api.test only"],
      ["gotunnel start -d myapp -p 3000 --proxy-https-port 8443", "no root needed: https://myapp.local:8443"],
      ["gotunnel start -d api -p 8080 -p 8081", "two backends, requests take turns (round_robin)"],
      ["gotunnel start -d api -p 8080 --target http://127.0.0.1:9090 --policy first", "failover to the second"],
    ],
    usage: [
      "--domain <name> --port <port> [options]",
      "--domain <name> --port <port> --port <port>… [--target <url>…] [--policy <policy>] [options]",
    ],
  },
  args: {
    ...globalArgs,
    ...jsonArg,
    domain: {
      type: "string",
      alias: "d",
      required: true,
      valueHint: "name",
      description: 'Domain; a bare name gets ".local"',
    },
    port: {
      type: "string",
      alias: "p",
      valueHint: "port",
      description: "Local port of your dev server; repeat it for several backends",
    },
    target: {
      type: "string",
      valueHint: "url",
      description: "The dev server's URL instead of a port (http(s)://host:port); repeatable, with --port too",
    },
    policy: {
      type: "string",
      valueHint: BALANCE_POLICIES.join("|"),
      description: "How several backends share requests (default round_robin; first: failover)",
    },
    https: {
      type: "boolean",
      alias: "s",
      default: true,
      description: "Serve over HTTPS; --no-https serves plain HTTP only",
    },
    force: { type: "boolean", description: "Take over a name another project or command serves" },
    "https-port": {
      type: "string",
      valueHint: "port",
      description: "HTTPS listener port (same as --proxy-https-port)",
    },
  },
  async run({ args, rawArgs }) {
    const { name } = normalizeDomain(args.domain);
    const backends = backendsFrom(rawArgs);
    const policy = policyFlag(args.policy, backends.length);
    const overrides = overridesFrom({ ...args, "proxy-https-port": args["https-port"] ?? args["proxy-https-port"] });
    const [first] = backends as [number | string];
    overrides.routes = {
      [name]:
        backends.length === 1
          ? { target: first, https: args.https }
          : { targets: backends, https: args.https, ...(policy ? { policy } : {}) },
    };
    const loaded = await loadCommandConfig(overrides);
    const config = { ...loaded.config, routes: loaded.config.routes.filter((route) => route.name === name) };
    await serve(
      { ...loaded, config },
      {
        json: args.json === true,
        owner: { kind: "command", cwd: process.cwd() },
        persistent: true,
        force: args.force === true,
      },
    );
  },
});
