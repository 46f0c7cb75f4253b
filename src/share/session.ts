/**
 * One `gotunnel share NAME --tailscale|--funnel|--cloudflare` session: check the tool (preflight), start the bridge
 * when the tool needs it, start the tool, wait for its public URL, then keep it running until the route is removed
 * or the user stops sharing; either way the tool's process group gets its stop signal (and SIGKILL after a grace
 * period) and the bridge closes. A tool that exits early is an E_SHARE with its last lines and the fix.
 *
 * The tool runs in a process group of its own, registered with a guard process (platform/process-guard.ts, as `up`
 * does for dev servers): when `share` cannot stop it itself (`kill -9`, a crash, an OOM kill), the guard does, so a
 * route is never left public with nobody watching.
 */
import { GotunnelError } from "../core/errors.ts";
import { stopGroups } from "../platform/process-group.ts";
import { ProcessGuard } from "../platform/process-guard.ts";
import type { CommandRunner } from "../platform/runner.ts";
import { type Bridge, startBridge } from "./bridge.ts";
import type { ShareTarget, ShareTool } from "./types.ts";

/** A quick tunnel is usually up in 2–5 s and Tailscale Serve in under one; this bound only catches a hung tool. */
const URL_TIMEOUT_MS = 60_000;
/** How often the route's presence is checked. */
const ROUTE_POLL_MS = 1_000;
/** What the tool gets to clean up (Tailscale removes its serve config) before SIGKILL. */
const STOP_GRACE_MS = 5_000;
const LAST_LINES = 20;

export interface ShareSessionOptions {
  tool: ShareTool;
  target: Omit<ShareTarget, "bridgePort">;
  caPem: string;
  runner: CommandRunner;
  /** How to run this gotunnel again (daemon/spawn.ts `selfCommand()`), for the guard process. */
  selfCommand: readonly string[];
  /** Whether the route is still served: checked every second. */
  routeExists(): Promise<boolean>;
  onShared(url: string): void;
  /** The tool waits for the user in a browser (Tailscale's "enable Funnel/HTTPS" page). */
  onVisit(url: string, what: string): void;
  /** Aborted when the user stops sharing (Ctrl-C, SIGTERM). */
  signal: AbortSignal;
}

export type ShareEnd = "route-removed" | "stopped";

export async function runShareSession(options: ShareSessionOptions): Promise<ShareEnd> {
  const { tool } = options;
  await tool.preflight(options.runner);
  const bridge: Bridge | undefined = tool.needsBridge
    ? startBridge({ name: options.target.name, httpsPort: options.target.httpsPort, caPem: options.caPem })
    : undefined;
  const target: ShareTarget = { ...options.target, ...(bridge ? { bridgePort: bridge.port } : {}) };
  const guard = ProcessGuard.start(options.selfCommand);
  try {
    // detached: the leader of a new session and group, so the stop reaches what the tool starts, and Ctrl-C at the
    // terminal reaches only `share`, which stops the tool with the signal it cleans up on.
    const child = Bun.spawn(tool.argv(target), { stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
    guard.watch(child.pid, tool.stopSignal);
    try {
      return await share(child, options);
    } finally {
      await stopTool(child, tool.stopSignal);
    }
  } finally {
    guard.quit();
    await bridge?.stop();
  }
}

async function share(child: Bun.Subprocess<"ignore", "pipe", "pipe">, options: ShareSessionOptions): Promise<ShareEnd> {
  const output = watchOutput(child, options.tool, options);
  const url = await waitForUrl(child, output, options);
  if (url === undefined) return "stopped";
  options.onShared(url);
  return await waitForEnd(child, output, options);
}

interface Output {
  lines: string[];
  url: Promise<string>;
  /** Both streams read to their end (the tool exited and its last lines are in). */
  drained: Promise<void>;
}

function watchOutput(
  child: Bun.Subprocess<"ignore", "pipe", "pipe">,
  tool: ShareTool,
  options: ShareSessionOptions,
): Output {
  const lines: string[] = [];
  let found: (url: string) => void = () => undefined;
  const url = new Promise<string>((resolve) => {
    found = resolve;
  });
  const read = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    let partial = "";
    for await (const chunk of stream) {
      const parts = (partial + decoder.decode(chunk, { stream: true })).split(/\r?\n/);
      partial = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        if (lines.length > LAST_LINES) lines.shift();
        const meaning = tool.parse(line);
        if (meaning.kind === "url") found(meaning.url);
        else if (meaning.kind === "visit") options.onVisit(meaning.url, meaning.what);
      }
    }
  };
  const drained = Promise.all([read(child.stdout), read(child.stderr)]).then(() => undefined);
  return { lines, url, drained };
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

async function waitForUrl(
  child: Bun.Subprocess<"ignore", "pipe", "pipe">,
  output: Output,
  options: ShareSessionOptions,
): Promise<string | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), URL_TIMEOUT_MS);
  });
  try {
    const first = await Promise.race([
      output.url,
      child.exited.then(() => "exited" as const),
      timeout,
      aborted(options.signal).then(() => "aborted" as const),
    ]);
    if (first === "aborted") return undefined;
    if (first === "exited") {
      await output.drained;
      throw toolFailed(options.tool, output.lines, child.exitCode);
    }
    if (first === "timeout") {
      throw new GotunnelError("E_SHARE", `${options.tool.program} printed no URL within ${URL_TIMEOUT_MS / 1000} s`, {
        hint: `its last lines: ${output.lines.slice(-3).join(" / ") || "none"}`,
      });
    }
    return first;
  } finally {
    clearTimeout(timer);
  }
}

async function waitForEnd(
  child: Bun.Subprocess<"ignore", "pipe", "pipe">,
  output: Output,
  options: ShareSessionOptions,
): Promise<ShareEnd> {
  let exited = false;
  void child.exited.then(() => {
    exited = true;
  });
  const stop = aborted(options.signal).then(() => "stopped" as const);
  for (;;) {
    const tick = await Promise.race([stop, Bun.sleep(ROUTE_POLL_MS).then(() => "tick" as const)]);
    if (tick === "stopped") return "stopped";
    if (exited) {
      await output.drained;
      throw toolFailed(options.tool, output.lines, child.exitCode, true);
    }
    if (!(await options.routeExists())) return "route-removed";
  }
}

function toolFailed(tool: ShareTool, lines: string[], code: number | null, afterUrl = false): GotunnelError {
  const { message, hint } = tool.refusal(lines, code);
  return new GotunnelError("E_SHARE", afterUrl ? `${tool.program} stopped sharing: ${message}` : message, {
    hint,
    details: { program: tool.program, code, lastLines: lines.slice(-5) },
  });
}

/** The whole group, even when the tool itself has exited: what it started may still run (and still share). */
async function stopTool(child: Bun.Subprocess<"ignore", "pipe", "pipe">, signal: NodeJS.Signals): Promise<void> {
  await stopGroups([child.pid], STOP_GRACE_MS, signal);
  await child.exited;
}
