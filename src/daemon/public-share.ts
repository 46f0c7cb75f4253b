/**
 * `gotunnel share NAME --tailscale|--funnel|--cloudflare`: a route the running daemon serves, shared past the LAN
 * through an installed tool (src/share/), for as long as the route exists and the command runs.
 */
import { readFileSync } from "node:fs";
import { GotunnelError } from "../core/errors.ts";
import type { Paths } from "../platform/paths.ts";
import type { CommandRunner } from "../platform/runner.ts";
import { cloudflareQuickTunnel } from "../share/cloudflared.ts";
import { runShareSession, type ShareEnd } from "../share/session.ts";
import { tailscaleFunnel, tailscaleServe } from "../share/tailscale.ts";
import type { Provider, ShareTool } from "../share/types.ts";
import { routesResponseSchema } from "./control/protocol.ts";
import { fullName } from "./routes.ts";
import { runningDaemon, selfCommand } from "./spawn.ts";

export const SHARE_TOOLS: Record<Provider, ShareTool> = {
  tailscale: tailscaleServe,
  funnel: tailscaleFunnel,
  cloudflare: cloudflareQuickTunnel,
};

export interface PublicShareOptions {
  paths: Paths;
  name: string;
  provider: Provider;
  runner: CommandRunner;
  signal: AbortSignal;
  onShared(share: { name: string; url: string; label: string }): void;
  onVisit(url: string, what: string): void;
}

export async function sharePublicly(options: PublicShareOptions): Promise<{ name: string; end: ShareEnd }> {
  const client = runningDaemon(options.paths);
  const status = await client.status();
  const name = fullName(options.name);
  const routeNames = async () =>
    (await client.request("GET", "/v1/routes", routesResponseSchema)).routes
      .filter((route) => route.status !== "refused")
      .map((route) => route.name);
  const known = await routeNames();
  if (!known.includes(name)) {
    throw new GotunnelError("E_USAGE", `the daemon serves no route named ${name}`, {
      hint:
        known.length === 0
          ? "add it first: `gotunnel up`, or `gotunnel start -d NAME -p PORT`"
          : `its routes: ${known.join(", ")}; e.g. \`gotunnel share ${known[0]} --${options.provider}\``,
      details: { routes: known },
    });
  }
  const tool = SHARE_TOOLS[options.provider];
  const end = await runShareSession({
    tool,
    target: { name, httpsPort: status.ports.https, caPath: status.ca.path },
    caPem: readFileSync(status.ca.path, "utf8"),
    runner: options.runner,
    selfCommand: selfCommand(),
    routeExists: async () => (await routeNames()).includes(name),
    onShared: (url) => options.onShared({ name, url, label: tool.label }),
    onVisit: options.onVisit,
    signal: options.signal,
  });
  return { name, end };
}
