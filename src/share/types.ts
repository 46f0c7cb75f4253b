/**
 * Sharing a route past the LAN through a network the user already has: Tailscale Serve (tailnet only), Tailscale
 * Funnel (the internet) or a Cloudflare quick tunnel (the internet, no account). gotunnel runs no relay of its own:
 * it starts the installed tool in the foreground, pointed at the route with the route's own Host header, reads the
 * public URL from what the tool prints, and stops it when the route goes. Each tool is one file (tailscale.ts,
 * cloudflared.ts) with the same shape; session.ts runs any of them.
 */
import type { CommandRunner } from "../platform/runner.ts";

export type Provider = "tailscale" | "funnel" | "cloudflare";

/** Where the tool sends traffic, and what the route needs to accept it. */
export interface ShareTarget {
  /** The route's name: the Host header and TLS server name the daemon routes on. */
  name: string;
  /** gotunnel's HTTPS listener on loopback. */
  httpsPort: number;
  caPath: string;
  /** A loopback plain-HTTP bridge that sets the Host header (bridge.ts), for tools that cannot (Tailscale). */
  bridgePort?: number;
}

/** What one line of the tool's output means. */
export type ToolLine =
  | { kind: "url"; url: string }
  /** The tool waits for the user to do something in a browser (enable HTTPS or Funnel for the tailnet). */
  | { kind: "visit"; url: string; what: string }
  | { kind: "other" };

export interface ShareTool {
  provider: Provider;
  /** "Tailscale Serve (your tailnet)", "Tailscale Funnel (the internet)", "Cloudflare quick tunnel (the internet)". */
  label: string;
  /** The program on PATH. */
  program: string;
  /** Does this tool need the Host-setting bridge? */
  needsBridge: boolean;
  /** Installed, running and logged in? Throws E_SHARE with the fix when not. */
  preflight(runner: CommandRunner): Promise<void>;
  argv(target: ShareTarget): string[];
  parse(line: string): ToolLine;
  /** The signal that makes it clean up and exit (Tailscale removes its foreground config on SIGINT). */
  stopSignal: NodeJS.Signals;
  /** Why the tool exited early, from its last lines, with the fix: E_SHARE. */
  refusal(lastLines: string[], code: number | null): { message: string; hint: string };
}
