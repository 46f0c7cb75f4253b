/** `gotunnel discover`: list the HTTPS services (gotunnel's and others) that answer mDNS on the local network. */
import { GotunnelError } from "../core/errors.ts";
import type { DiscoveredService } from "../mdns/browse.ts";
import { jsonArg } from "./args.ts";
import { command } from "./command.ts";
import { dim, info, printJson, printPairs, warn } from "./output.ts";

const MAX_TIMEOUT_MS = 60_000;
const SERVICE_TYPE_RE = /^_[a-z0-9-]{1,15}\._(tcp|udp)$/i;

/** "3s", "1500ms" or a bare number of seconds. */
export function parseTimeout(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(value.trim());
  const ms = match ? Number(match[1]) * (match[2] === "ms" ? 1 : 1000) : Number.NaN;
  if (!(ms > 0 && ms <= MAX_TIMEOUT_MS)) {
    throw new GotunnelError("E_USAGE", `--timeout expects a duration up to 60s, got ${JSON.stringify(value)}`, {
      hint: "e.g. `--timeout 3s` or `--timeout 500ms`",
    });
  }
  return ms;
}

function parseType(value: string): string {
  if (!SERVICE_TYPE_RE.test(value)) {
    throw new GotunnelError("E_USAGE", `--type expects a DNS-SD service type, got ${JSON.stringify(value)}`, {
      hint: "e.g. `--type _https._tcp` or `--type _http._tcp`",
    });
  }
  return `${value.toLowerCase()}.local`;
}

function render(services: DiscoveredService[], type: string, timeout: string): void {
  if (services.length === 0) {
    info(`no ${type} service answered within ${timeout}`);
    return;
  }
  printPairs(
    services.map((service) => [
      `${service.name}${service.gotunnel ? " (gotunnel)" : ""}`,
      `${service.url ?? "(no address yet)"}  ${dim(service.addresses.join(" "))}`,
    ]),
  );
}

export default command({
  meta: {
    name: "discover",
    description: "List HTTPS services on the local network (mDNS / DNS-SD)",
    examples: [
      ["gotunnel discover", "listen 3 s for _https._tcp services"],
      ["gotunnel discover --type _http._tcp --timeout 5s"],
    ],
  },
  args: {
    ...jsonArg,
    timeout: { type: "string", default: "3s", valueHint: "3s", description: "How long to listen for answers" },
    type: { type: "string", default: "_https._tcp", valueHint: "_https._tcp", description: "DNS-SD service type" },
  },
  async run({ args }) {
    const timeoutMs = parseTimeout(args.timeout);
    const serviceType = parseType(args.type);
    const { discoverServices } = await import("../mdns/browse.ts");
    const services = await discoverServices({ serviceType, timeoutMs, onWarning: args.json ? undefined : warn });
    if (args.json) printJson({ services });
    else render(services, args.type, args.timeout);
  },
});
