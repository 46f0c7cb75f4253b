/**
 * `gotunnel share [name]`: the URL and QR code a phone scans to install gotunnel's CA, the routes to open next,
 * and the CA fingerprint to compare on the device. Computed from config and ports; the daemon serves the page.
 * `gotunnel share NAME --tailscale|--funnel|--cloudflare`: the route on a public URL (daemon/public-share.ts) until
 * Ctrl-C or until the route is removed.
 */
import { networkInterfaces } from "node:os";
import { normalizeDomain } from "../config/domain.ts";
import type { ResolvedRoute } from "../config/load.ts";
import { GotunnelError } from "../core/errors.ts";
import type { ShareInfo } from "../onboarding/share.ts";
import { resolvePaths } from "../platform/paths.ts";
import { globalArgs, jsonArg, loadCommandConfig, overridesFrom } from "./args.ts";
import { command } from "./command.ts";
import { colorOn, info, printJson, printLine, printPairs, success, warn, withProgress } from "./output.ts";

function selectRoutes(routes: readonly ResolvedRoute[], name: string | undefined): ResolvedRoute[] {
  if (name === undefined) return [...routes];
  const wanted = normalizeDomain(name).name;
  const found = routes.filter((route) => route.name === wanted || route.name === `*.${wanted}`);
  if (found.length > 0) return found;
  const known = routes.map((route) => route.name).join(", ") || "none";
  throw new GotunnelError("E_USAGE", `No route named ${wanted} in this project's config (routes: ${known})`, {
    hint: routes[0] ? `e.g. \`gotunnel share ${routes[0].name}\`, or no name for all routes` : "add a route first",
  });
}

type Provider = "tailscale" | "funnel" | "cloudflare";

function publicProvider(args: Partial<Record<Provider, boolean>>): Provider | undefined {
  const chosen = (["tailscale", "funnel", "cloudflare"] as const).filter((flag) => args[flag]);
  if (chosen.length > 1) {
    throw new GotunnelError("E_USAGE", `choose one of --${chosen.join(", --")}`, {
      hint: "--tailscale: your tailnet; --funnel or --cloudflare: the internet",
    });
  }
  return chosen[0];
}

async function sharePublic(name: string | undefined, provider: Provider, json: boolean): Promise<void> {
  if (!name) {
    throw new GotunnelError("E_USAGE", `--${provider} shares one route: name it`, {
      hint: `e.g. \`gotunnel share myapp.local --${provider}\``,
    });
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const { sharePublicly } = await import("../daemon/public-share.ts");
  const { systemRunner } = await import("../platform/runner.ts");
  const { terminalQr } = await import("../onboarding/qr.ts");
  const { end } = await sharePublicly({
    paths: resolvePaths(),
    name,
    provider,
    runner: systemRunner,
    signal: stop.signal,
    onVisit: (url, what) =>
      json ? printLine(JSON.stringify({ event: "visit", url, what })) : info(`${what}: open ${url}`),
    onShared: (share) => {
      if (json) return printLine(JSON.stringify({ event: "shared", provider, ...share }));
      success(`${share.name} is shared through ${share.label}: ${share.url}`);
      printLine(terminalQr(share.url, process.stdout.isTTY === true && !process.env.NO_COLOR));
      info(`Ctrl-C stops sharing; so does removing the route (\`gotunnel stop ${share.name}\`)`);
    },
  }).finally(() => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  });
  if (json) printLine(JSON.stringify({ event: "stopped", reason: end }));
  else info(end === "route-removed" ? "the route was removed: stopped sharing it" : "stopped sharing");
}

function render(share: ShareInfo, qr: string | undefined): void {
  if (qr && share.onboardingUrl) {
    info("Scan with the phone's camera (same Wi-Fi as this computer) to trust gotunnel's CA:");
    printLine(qr);
  }
  const rows: [string, string][] = [
    ["onboarding", share.onboardingUrl ?? "unavailable (see below)"],
    ["CA SHA-256", share.ca.fingerprintSha256],
    ...share.routes.map((route): [string, string] => [route.lan ? "then open" : "not shared", route.url]),
  ];
  printPairs(rows);
  for (const message of share.warnings) warn(message);
}

export default command({
  meta: {
    name: "share",
    description:
      "Show the URL and QR code that let a phone trust gotunnel and open a route; with --tailscale, --funnel or --cloudflare, share NAME past the LAN",
    examples: [
      ["gotunnel share", "every route of this project"],
      ["gotunnel share myapp", "only myapp.local"],
      ["gotunnel share myapp --tailscale", "myapp.local on your tailnet (tailscale serve), until Ctrl-C"],
      ["gotunnel share myapp --cloudflare", "a public trycloudflare.com URL (cloudflared quick tunnel)"],
    ],
  },
  args: {
    ...globalArgs,
    ...jsonArg,
    name: { type: "positional", required: false, description: "Route to share (default: every route)" },
    tailscale: { type: "boolean", description: "Share NAME on your tailnet with Tailscale Serve" },
    funnel: { type: "boolean", description: "Share NAME on the internet with Tailscale Funnel" },
    cloudflare: { type: "boolean", description: "Share NAME on the internet with a Cloudflare quick tunnel" },
  },
  async run({ args }) {
    const provider = publicProvider(args);
    if (provider) return sharePublic(args.name, provider, args.json === true);
    const { config } = await loadCommandConfig(overridesFrom(args));
    const routes = selectRoutes(config.routes, args.name);
    const { loadOrCreateCA } = await (await import("../tls/load.ts")).loadTls();
    const caDir = resolvePaths().caDir;
    const { ca } = await withProgress((progress) => loadOrCreateCA(caDir, { onStep: progress.step }));
    const { shareInfo } = await import("../onboarding/share.ts");
    const share = shareInfo({
      routes,
      lan: config.lan,
      ports: { http: config.proxy.httpPort, https: config.proxy.httpsPort },
      interfaces: networkInterfaces(),
      ca: { pem: ca.certPem, path: ca.certPath },
    });
    if (args.json) {
      printJson(share);
      return;
    }
    const { terminalQr } = await import("../onboarding/qr.ts");
    const color = colorOn(process.stdout);
    render(share, share.onboardingUrl ? terminalQr(share.onboardingUrl, color) : undefined);
  },
});
