/**
 * Tailscale Serve and Funnel in the foreground (`tailscale serve <target>` / `tailscale funnel <target>`, the CLI of
 * Tailscale 1.52+): the configuration lives only while the command runs, and Ctrl-C (SIGINT) removes it. Serve's
 * proxy forwards the public Host (`<machine>.<tailnet>.ts.net`) and has no option to change it, so the target is
 * gotunnel's loopback bridge, which sets the route's name. Before starting, `tailscale status --json` tells a stopped
 * tailscaled or a logged-out machine apart, so the user gets the one command that fixes it.
 */
import { GotunnelError } from "../core/errors.ts";
import type { CommandRunner } from "../platform/runner.ts";
import type { ShareTarget, ShareTool, ToolLine } from "./types.ts";

const INSTALL = "https://tailscale.com/download";

/** `tailscale status --json`'s BackendState values (ipn.State) that need the user, with what they need. */
const NOT_RUNNING: Record<string, { message: string; hint: string }> = {
  NeedsLogin: {
    message: "this machine is logged out of its tailnet",
    hint: "run `tailscale up` (or `tailscale login`), then this command again",
  },
  Stopped: { message: "Tailscale is stopped on this machine", hint: "run `tailscale up`, then this command again" },
  NeedsMachineAuth: {
    message: "this machine waits for an admin of the tailnet to approve it",
    hint: "approve it in the admin console (https://login.tailscale.com/admin/machines), then run this command again",
  },
  Starting: { message: "Tailscale is still starting", hint: "wait a moment, then run this command again" },
};

function shareError(message: string, hint: string, details: Record<string, unknown> = {}): GotunnelError {
  return new GotunnelError("E_SHARE", message, { hint, details });
}

async function preflight(runner: CommandRunner): Promise<void> {
  if (!runner.which("tailscale")) {
    throw shareError(
      "tailscale is not installed (no `tailscale` on PATH)",
      `install Tailscale (${INSTALL}), run \`tailscale up\`, then this command again`,
    );
  }
  const result = await runner.run(["tailscale", "status", "--json"]);
  const said = (result.stderr || result.stdout).trim();
  if (/doesn't appear to be running|failed to connect|connection refused|no such file/i.test(said)) {
    throw shareError(
      "tailscaled is not running",
      "start it (`sudo systemctl enable --now tailscaled`, or open the Tailscale app), then `tailscale up`",
      { output: said },
    );
  }
  let state: string | undefined;
  try {
    state = (JSON.parse(result.stdout) as { BackendState?: string }).BackendState;
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
  }
  if (state === undefined) {
    throw shareError(
      `\`tailscale status --json\` exited with ${result.code} and no state`,
      said ? `it said: ${said.split("\n").slice(-2).join(" / ")}` : "run `tailscale status` to see why",
    );
  }
  const problem = NOT_RUNNING[state];
  if (problem) throw shareError(problem.message, problem.hint, { backendState: state });
}

/** Serve and Funnel print the same block: a heading, then `https://<machine>.<tailnet>.ts.net/` on a line. */
function parse(line: string): ToolLine {
  const trimmed = line.trim();
  const visit = /(https:\/\/login\.tailscale\.com\/\S+)/.exec(trimmed);
  if (visit?.[1])
    return { kind: "visit", url: visit[1], what: "Tailscale asks you to enable this feature for the tailnet" };
  const url = /^(https:\/\/[a-z0-9-]+(?:\.[a-z0-9-]+)*\.ts\.net(?::\d+)?\/?)$/i.exec(trimmed);
  return url?.[1] ? { kind: "url", url: url[1] } : { kind: "other" };
}

function refusal(lastLines: string[], code: number | null, funnel: boolean): { message: string; hint: string } {
  const text = lastLines.join("\n");
  const said = lastLines
    .filter((line) => line.trim() !== "")
    .slice(-3)
    .join(" / ");
  if (/access denied|permission denied|operator/i.test(text)) {
    return {
      message: `tailscale refused to change the serve config for you: ${said}`,
      hint: "let your user change it once: `sudo tailscale set --operator=$USER`, then run this command again",
    };
  }
  if (funnel && /funnel/i.test(text) && /not (available|enabled)|node attribute/i.test(text)) {
    return {
      message: `Tailscale Funnel is not allowed for this machine: ${said}`,
      hint: "allow Funnel in the tailnet policy (https://tailscale.com/kb/1223/funnel), or share within the tailnet with `--tailscale`",
    };
  }
  if (/already (exists|serving)|background configuration/i.test(text)) {
    return {
      message: `port 443 of this machine's tailnet name is already served: ${said}`,
      hint: "see `tailscale serve status`; `tailscale serve reset` clears it",
    };
  }
  return {
    message: `tailscale exited (${code ?? "signal"}) before it printed a URL: ${said || "no output"}`,
    hint: "run `tailscale serve status` and `tailscale status` to see why",
  };
}

function tool(funnel: boolean): ShareTool {
  const command = funnel ? "funnel" : "serve";
  return {
    provider: funnel ? "funnel" : "tailscale",
    label: funnel ? "Tailscale Funnel (the internet)" : "Tailscale Serve (your tailnet)",
    program: "tailscale",
    needsBridge: true,
    preflight,
    argv: (target: ShareTarget) => ["tailscale", command, "--https=443", `http://127.0.0.1:${target.bridgePort}`],
    parse,
    stopSignal: "SIGINT",
    refusal: (lines, code) => refusal(lines, code, funnel),
  };
}

export const tailscaleServe = tool(false);
export const tailscaleFunnel = tool(true);
