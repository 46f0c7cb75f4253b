/**
 * A Cloudflare quick tunnel (`cloudflared tunnel --url …`, no account): cloudflared asks trycloudflare.com for a
 * random hostname, prints it in a box on stderr, and forwards to the origin until it stops. It takes the route's name
 * as the Host header (`--http-host-header`) and as the TLS server name (`--origin-server-name`), and verifies gotunnel's
 * certificate against gotunnel's CA (`--origin-ca-pool`), so it talks to the daemon's HTTPS listener directly.
 */
import { GotunnelError } from "../core/errors.ts";
import type { CommandRunner } from "../platform/runner.ts";
import type { ShareTarget, ShareTool, ToolLine } from "./types.ts";

const INSTALL = "https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/downloads/";

async function preflight(runner: CommandRunner): Promise<void> {
  if (runner.which("cloudflared")) return;
  throw new GotunnelError("E_SHARE", "cloudflared is not installed (no `cloudflared` on PATH)", {
    hint: `install it (${INSTALL}; e.g. \`brew install cloudflared\`), then run this command again; no Cloudflare account is needed`,
  });
}

/** The quick tunnel's hostname is always under trycloudflare.com; other URLs it prints are terms and docs. */
function parse(line: string): ToolLine {
  const url = /(https:\/\/[a-z0-9-]+\.trycloudflare\.com)\b/i.exec(line);
  return url?.[1] ? { kind: "url", url: url[1] } : { kind: "other" };
}

export const cloudflareQuickTunnel: ShareTool = {
  provider: "cloudflare",
  label: "Cloudflare quick tunnel (the internet)",
  program: "cloudflared",
  needsBridge: false,
  preflight,
  argv: (target: ShareTarget) => [
    "cloudflared",
    "tunnel",
    "--no-autoupdate",
    "--url",
    `https://127.0.0.1:${target.httpsPort}`,
    "--http-host-header",
    target.name,
    "--origin-server-name",
    target.name,
    "--origin-ca-pool",
    target.caPath,
  ],
  parse,
  stopSignal: "SIGTERM",
  refusal(lastLines, code) {
    const said = lastLines
      .filter((line) => line.trim() !== "")
      .slice(-3)
      .join(" / ");
    if (/429|too many requests|rate limit/i.test(said)) {
      return {
        message: `trycloudflare.com refused a new quick tunnel: ${said}`,
        hint: "wait a few minutes and run this command again",
      };
    }
    return {
      message: `cloudflared exited (${code ?? "signal"}) before it printed a URL: ${said || "no output"}`,
      hint: "check this machine reaches the internet (cloudflared needs outbound port 7844 or 443), then run this command again",
    };
  },
};
