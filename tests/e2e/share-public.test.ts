/**
 * `gotunnel share NAME --tailscale|--funnel|--cloudflare` on the compiled binary, with stand-in `tailscale` and
 * `cloudflared` first on PATH (tests/helpers/share-tools.ts) that record their argv and answer like the real tools.
 * The route is real (a daemon on ephemeral ports in front of an echo upstream), and so is the bridge Tailscale is
 * pointed at: a request through it reaches the upstream with the route's Host. Sharing stops with the route, and
 * the tool (its whole process group) stops even when `share` is killed with SIGKILL: its guard process stops it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";

import type { Subprocess } from "bun";
import { BINARY, binaryEnv, E2EScope, LineCollector, requireBinary, runGotunnel } from "../helpers/e2e.ts";
import { allProcesses, isLive, liveDescendants, procInfo, untilEmpty } from "../helpers/proc-tree.ts";
import { installStandIns, QUICK_TUNNEL_URL, type StandIns, TAILNET_URL } from "../helpers/share-tools.ts";
import { startEchoUpstream } from "../helpers/upstreams.ts";

const scope = new E2EScope();
const NAME = "web.localhost";

interface Share {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  stdout: LineCollector;
  stderr: LineCollector;
}

describe("gotunnel share past the LAN, through stand-in tools", () => {
  let home: string;
  let tools: StandIns;
  let env: Record<string, string>;
  let upstream: ReturnType<typeof startEchoUpstream>;
  let caPath: string;
  let httpsPort: number;

  const gotunnel = (args: string[]) => runGotunnel(args, { cwd: home, home, env });
  const share = (args: string[]): Share => {
    const proc = Bun.spawn([BINARY, "share", ...args], {
      cwd: home,
      env: binaryEnv(home, env),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    scope.defer(() => proc.kill("SIGKILL"));
    return { proc, stdout: new LineCollector(proc.stdout), stderr: new LineCollector(proc.stderr) };
  };
  const event = async (running: Share, name: string) =>
    JSON.parse(await running.stdout.waitFor((line) => line.includes(`"event":"${name}"`), 20_000));
  /** The stand-in's shell and every live process of its group (its `sleep`), as "pid cmdline". */
  const toolGroup = (pid: number) =>
    allProcesses()
      .filter((info) => (info.pid === pid || info.pgid === pid) && info.state !== "Z")
      .map((info) => `${info.pid} ${info.cmdline}`);
  /** The guard `share` started: its child running the hidden guard command. */
  const guardOf = (share: Share) =>
    liveDescendants(share.proc.pid).find((info) => info.cmdline.includes("__process-guard"))?.pid;
  /** A build without the guard leaves the stand-in running: stop it at the end (only if it still is the stand-in). */
  const reap = (pid: number) =>
    scope.defer(() => {
      if (isLive(pid) && procInfo(pid)?.cmdline.includes(tools.dir)) process.kill(pid, "SIGKILL");
    });

  beforeAll(async () => {
    requireBinary();
    home = scope.dir("home");
    tools = installStandIns(scope.dir("bin"), ["tailscale", "cloudflared"]);
    env = {
      PATH: `${tools.dir}:${process.env.PATH ?? "/usr/bin:/bin"}`,
      GOTUNNEL_PROXY_HTTPS_PORT: "0",
      GOTUNNEL_PROXY_HTTP_PORT: "0",
    };
    upstream = startEchoUpstream();
    scope.defer(() => upstream.stop());
    const started = await gotunnel(["start", "-d", NAME, "-p", String(upstream.port), "--json"]);
    expect(started.exitCode).toBe(0);
    const ready = JSON.parse(started.stdout);
    caPath = ready.ca.path;
    httpsPort = ready.ports.https;
  }, 30_000);

  afterAll(() => scope.dispose());

  test("--tailscale: tailscale serve in the foreground, pointed at a bridge that gives the route its own Host", async () => {
    const running = share([NAME, "--tailscale", "--json"]);
    const shared = await event(running, "shared");
    expect(shared).toEqual({
      event: "shared",
      provider: "tailscale",
      name: NAME,
      url: TAILNET_URL,
      label: "Tailscale Serve (your tailnet)",
    });
    const [status, serve] = tools.argv("tailscale");
    expect(status).toBe("status --json");
    const bridge = /^serve --https=443 http:\/\/127\.0\.0\.1:(\d+)$/.exec(serve ?? "")?.[1];
    expect(bridge).toBeDefined();
    // What tailscale's proxy sends: the public Host, and X-Forwarded-Host with it.
    const through = await fetch(`http://127.0.0.1:${bridge}/via/tailnet?x=1`, {
      headers: { host: "gtbox.tail1234.ts.net", "x-forwarded-host": "gtbox.tail1234.ts.net" },
    });
    expect(through.status).toBe(200);
    const seen = (await through.json()) as { path: string; headers: [string, string][] };
    expect(seen.path).toBe("/via/tailnet?x=1");
    expect(Object.fromEntries(seen.headers).host).toBe(NAME);
    running.proc.kill("SIGTERM");
    expect(await running.proc.exited).toBe(0);
    expect(JSON.parse(running.stdout.lines.at(-1) ?? "{}")).toEqual({ event: "stopped", reason: "stopped" });
    // tailscale removes its foreground serve config on SIGINT (Ctrl-C), which is what it got.
    expect(tools.signals("tailscale")).toEqual(["INT"]);
  }, 30_000);

  test("--funnel: WebSockets (HMR) go through the bridge too, with the route's Host", async () => {
    let hostSeen = "";
    const ws = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req, server) {
        hostSeen = req.headers.get("host") ?? "";
        return server.upgrade(req) ? undefined : new Response("no upgrade", { status: 400 });
      },
      websocket: { message: (socket, message) => void socket.send(`echo ${message}`) },
    });
    scope.defer(() => ws.stop(true));
    expect((await gotunnel(["start", "-d", "hmr.localhost", "-p", String(ws.port)])).exitCode).toBe(0);
    const running = share(["hmr.localhost", "--funnel", "--json"]);
    expect((await event(running, "shared")).label).toBe("Tailscale Funnel (the internet)");
    const bridge = /^funnel --https=443 http:\/\/127\.0\.0\.1:(\d+)$/.exec(tools.argv("tailscale").at(-1) ?? "")?.[1];
    const client = new WebSocket(`ws://127.0.0.1:${bridge}/_hmr`, { headers: { host: "gtbox.tail1234.ts.net" } });
    const reply = await new Promise<string>((resolve, reject) => {
      client.onopen = () => client.send("hi");
      client.onmessage = (message) => resolve(String(message.data));
      client.onerror = () => reject(new Error("websocket through the bridge failed"));
    });
    client.close();
    expect(reply).toBe("echo hi");
    expect(hostSeen).toBe("hmr.localhost");
    running.proc.kill("SIGINT");
    expect(await running.proc.exited).toBe(0);
  }, 30_000);

  test("--cloudflare: a quick tunnel to the HTTPS listener with the route's Host, SNI and CA; it stops with the route", async () => {
    const running = share([NAME, "--cloudflare"]);
    await running.stdout.waitFor((line) => line.includes(QUICK_TUNNEL_URL), 20_000);
    expect(tools.argv("cloudflared")).toEqual([
      `tunnel --no-autoupdate --url https://127.0.0.1:${httpsPort} --http-host-header ${NAME} --origin-server-name ${NAME} --origin-ca-pool ${caPath}`,
    ]);
    expect(running.stdout.text()).toContain(
      `${NAME} is shared through Cloudflare quick tunnel (the internet): ${QUICK_TUNNEL_URL}`,
    );
    // The QR code: half-block characters on stdout.
    await running.stdout.waitFor((line) => /[▀▄█]{8}/.test(line), 5_000);
    expect((await gotunnel(["stop", NAME])).exitCode).toBe(0);
    expect(await running.proc.exited).toBe(0);
    expect(running.stdout.text()).toContain("the route was removed: stopped sharing it");
    expect(tools.signals("cloudflared")).toEqual(["TERM"]);
    expect((await gotunnel(["start", "-d", NAME, "-p", String(upstream.port)])).exitCode).toBe(0);
  }, 30_000);

  for (const [flag, tool, signal] of [
    ["--cloudflare", "cloudflared", "TERM"],
    ["--tailscale", "tailscale", "INT"],
  ] as const) {
    test(`kill -9 of share ${flag}: its guard stops ${tool} and what it started, with the signal it cleans up on`, async () => {
      const signalsBefore = tools.signals(tool).length;
      const running = share([NAME, flag, "--json"]);
      await event(running, "shared");
      const pid = tools.pid(tool);
      reap(pid);
      const seen = toolGroup(pid);
      expect(seen.length).toBeGreaterThan(0);
      const guard = guardOf(running);
      // Only `share` itself: the tool is in a group of its own and must be stopped by the guard.
      process.kill(running.proc.pid, "SIGKILL");
      await running.proc.exited;
      expect(await untilEmpty(() => toolGroup(pid))).toEqual([]);
      expect(tools.signals(tool).slice(signalsBefore)).toEqual([signal]);
      // The guard exits once the group is gone.
      expect(guard).toBeDefined();
      expect(await untilEmpty(() => (guard !== undefined && isLive(guard) ? [guard] : []))).toEqual([]);
    }, 40_000);
  }

  test("Ctrl-C of share: it stops the tool's whole group itself before it exits, then its guard quits", async () => {
    const signalsBefore = tools.signals("cloudflared").length;
    const running = share([NAME, "--cloudflare", "--json"]);
    await event(running, "shared");
    const pid = tools.pid("cloudflared");
    reap(pid);
    const guard = guardOf(running);
    expect(guard).toBeDefined();
    running.proc.kill("SIGINT");
    expect(await running.proc.exited).toBe(0);
    expect(JSON.parse(running.stdout.lines.at(-1) ?? "{}")).toEqual({ event: "stopped", reason: "stopped" });
    expect(toolGroup(pid)).toEqual([]);
    // One stop signal: share's own; the guard, told to quit, sends none.
    expect(tools.signals("cloudflared").slice(signalsBefore)).toEqual(["TERM"]);
    expect(await untilEmpty(() => (guard !== undefined && isLive(guard) ? [guard] : []))).toEqual([]);
  }, 30_000);

  test("a logged-out tailnet, a stopped tailscaled, a refused Funnel: exit 11 with the fix, nothing left running", async () => {
    tools.set("state", "NeedsLogin");
    let result = await gotunnel(["share", NAME, "--funnel", "--json"]);
    expect(result.exitCode).toBe(11);
    expect(JSON.parse(result.stdout).error).toMatchObject({
      code: "E_SHARE",
      message: "this machine is logged out of its tailnet",
      hint: "run `tailscale up` (or `tailscale login`), then this command again",
    });
    tools.set("state", "NotRunning");
    result = await gotunnel(["share", NAME, "--tailscale"]);
    expect(result.exitCode).toBe(11);
    expect(result.stderr).toContain("tailscaled is not running");
    tools.set("state", undefined);
    tools.set(
      "refuse",
      'Funnel not available; "funnel" node attribute not set. See https://tailscale.com/s/no-funnel.\n',
    );
    result = await gotunnel(["share", NAME, "--funnel"]);
    expect(result.exitCode).toBe(11);
    expect(result.stderr).toContain(
      'Tailscale Funnel is not allowed for this machine: Funnel not available; "funnel" node attribute not set',
    );
    expect(result.stderr).toContain("allow Funnel in the tailnet policy");
    tools.set("refuse", undefined);
  }, 30_000);

  test("a missing tool and an unknown route are clear errors", async () => {
    const bare = await runGotunnel(["share", NAME, "--cloudflare"], {
      cwd: home,
      home,
      env: { ...env, PATH: "/usr/bin:/bin" },
    });
    expect(bare.exitCode).toBe(11);
    expect(bare.stderr).toContain("cloudflared is not installed");
    const unknown = await gotunnel(["share", "nope", "--tailscale"]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain("the daemon serves no route named nope.local");
    expect(unknown.stderr).toContain(NAME);
    const two = await gotunnel(["share", NAME, "--tailscale", "--cloudflare"]);
    expect(two.exitCode).toBe(2);
    expect(two.stderr).toContain("choose one of --tailscale, --cloudflare");
  });
});
