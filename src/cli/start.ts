/** `gotunnel start`: add one route given on the command line (the Go tool's flags) to the daemon, and return. */
import { normalizeDomain } from "../config/domain.ts";
import { GotunnelError } from "../core/errors.ts";
import { globalArgs, jsonArg, loadCommandConfig, overridesFrom, portFlag } from "./args.ts";
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
      required: true,
      valueHint: "port",
      description: "Local port of your dev server",
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
  async run({ args }) {
    const { name } = normalizeDomain(args.domain);
    const port = portFlag("port", args.port);
    if (!port) {
      throw new GotunnelError("E_USAGE", "--port must be your dev server's port, from 1 to 65535", {
        hint: "e.g. `gotunnel start --domain myapp --port 3000`",
      });
    }
    const overrides = overridesFrom({ ...args, "proxy-https-port": args["https-port"] ?? args["proxy-https-port"] });
    overrides.routes = { [name]: { target: port, https: args.https } };
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
