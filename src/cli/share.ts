/**
 * `gotunnel share [name]`: the URL and QR code a phone scans to install gotunnel's CA, the routes to open next,
 * and the CA fingerprint to compare on the device. Computed from config and ports; the daemon serves the page.
 */
import { networkInterfaces } from "node:os";
import { defineCommand } from "citty";
import { normalizeDomain } from "../config/domain.ts";
import type { ResolvedRoute } from "../config/load.ts";
import { GotunnelError } from "../core/errors.ts";
import type { ShareInfo } from "../onboarding/share.ts";
import { resolvePaths } from "../platform/paths.ts";
import { globalArgs, jsonArg, loadCommandConfig, overridesFrom } from "./args.ts";
import { info, printJson, printLine, printPairs, warn } from "./output.ts";

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

export default defineCommand({
  meta: { name: "share", description: "Show the URL and QR code that let a phone trust gotunnel and open a route" },
  args: {
    ...globalArgs,
    ...jsonArg,
    name: { type: "positional", required: false, description: "Route to share (default: every route)" },
  },
  async run({ args }) {
    const { config } = await loadCommandConfig(overridesFrom(args));
    const routes = selectRoutes(config.routes, args.name);
    const { loadOrCreateCA } = await (await import("../tls/load.ts")).loadTls();
    const { ca } = await loadOrCreateCA(resolvePaths().caDir);
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
    const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
    render(share, share.onboardingUrl ? terminalQr(share.onboardingUrl, color) : undefined);
  },
});
