/**
 * Stand-ins for `tailscale` and `cloudflared`, put first on PATH: shell scripts that record every argv and the
 * signals they get, and answer as the real tools do (their output formats read from the tools' sources:
 * tailscale's cmd/tailscale/cli/serve_v2.go messages and `status --json` BackendState, cloudflared's quick tunnel
 * box in cmd/cloudflared/tunnel/quick_tunnel.go). A running tool writes its pid to <tool>.pid (it is the shell, with
 * a `sleep` child at most moments). They ignore SIGPIPE: when the group gets SIGTERM, dash reports the killed
 * `sleep` ("Terminated") on stderr, and once `share` has been killed that pipe has no reader, so SIGPIPE would end
 * the stand-in before its trap records the signal. Files in the stand-ins' directory change their behaviour:
 *   state     tailscale's BackendState (Running, NeedsLogin, Stopped …), or NotRunning for "no tailscaled"
 *   refuse    text tailscale serve/funnel prints on stderr before exiting 1
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const TAILNET_URL = "https://gtbox.tail1234.ts.net/";
export const QUICK_TUNNEL_URL = "https://quiet-river-1234.trycloudflare.com";

const TAILSCALE = `#!/bin/sh
dir="$(dirname "$0")"
printf '%s\\n' "$*" >> "$dir/tailscale.argv"
case "$1" in
  status)
    state="$(cat "$dir/state" 2>/dev/null || echo Running)"
    if [ "$state" = NotRunning ]; then
      echo "failed to connect to local tailscaled; it doesn't appear to be running (sudo systemctl start tailscaled ?)" >&2
      exit 1
    fi
    printf '{"Version":"1.76.6","BackendState":"%s","Self":{"DNSName":"gtbox.tail1234.ts.net.","Online":true}}\\n' "$state"
    ;;
  serve|funnel)
    if [ -f "$dir/refuse" ]; then cat "$dir/refuse" >&2; exit 1; fi
    if [ "$1" = funnel ]; then heading="Available on the internet:"; else heading="Available within your tailnet:"; fi
    for target; do :; done
    echo $$ > "$dir/tailscale.pid"
    trap '' PIPE
    trap 'echo INT >> "$dir/tailscale.signals"; exit 0' INT
    trap 'echo TERM >> "$dir/tailscale.signals"; exit 0' TERM
    printf '%s\\n\\n${TAILNET_URL}\\n|-- proxy %s\\n\\nPress Ctrl+C to exit.\\n' "$heading" "$target"
    while :; do sleep 0.1; done
    ;;
  *) echo "stand-in tailscale: unexpected $*" >&2; exit 2 ;;
esac
`;

const CLOUDFLARED = `#!/bin/sh
dir="$(dirname "$0")"
printf '%s\\n' "$*" >> "$dir/cloudflared.argv"
trap '' PIPE
trap 'echo INT >> "$dir/cloudflared.signals"; exit 0' INT
trap 'echo TERM >> "$dir/cloudflared.signals"; exit 0' TERM
now="2026-12-06T21:00:00Z"
echo "$now INF Thank you for trying Cloudflare Tunnel. ... terms of use (https://www.cloudflare.com/website-terms/) ..." >&2
echo "$now INF Requesting new quick Tunnel on trycloudflare.com..." >&2
if [ -f "$dir/refuse" ]; then cat "$dir/refuse" >&2; exit 1; fi
echo $$ > "$dir/cloudflared.pid"
echo "$now INF +--------------------------------------------------------------------------------------------+" >&2
echo "$now INF |  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |" >&2
echo "$now INF |  ${QUICK_TUNNEL_URL}                                                  |" >&2
echo "$now INF +--------------------------------------------------------------------------------------------+" >&2
while :; do sleep 0.1; done
`;

export interface StandIns {
  /** Put first on PATH. */
  dir: string;
  /** The argv each call got, one line per call ("" when never called). */
  argv(tool: "tailscale" | "cloudflared"): string[];
  signals(tool: "tailscale" | "cloudflared"): string[];
  /** The pid of the tool's last run that got as far as serving. */
  pid(tool: "tailscale" | "cloudflared"): number;
  set(file: "state" | "refuse", text: string | undefined): void;
}

export function installStandIns(dir: string, tools: ("tailscale" | "cloudflared")[]): StandIns {
  mkdirSync(dir, { recursive: true });
  for (const tool of tools) {
    const file = join(dir, tool);
    writeFileSync(file, tool === "tailscale" ? TAILSCALE : CLOUDFLARED);
    chmodSync(file, 0o755);
  }
  const lines = (name: string) =>
    existsSync(join(dir, name)) ? readFileSync(join(dir, name), "utf8").split("\n").filter(Boolean) : [];
  return {
    dir,
    argv: (tool) => lines(`${tool}.argv`),
    signals: (tool) => lines(`${tool}.signals`),
    pid: (tool) => Number(lines(`${tool}.pid`)[0]),
    set(file, text) {
      const path = join(dir, file);
      if (text === undefined) rmSync(path, { force: true });
      else writeFileSync(path, text);
    },
  };
}
