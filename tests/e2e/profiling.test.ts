/**
 * The profiling endpoints of the compiled daemon: /debug/heap is a V8 heap snapshot (JSON in the shape Chrome
 * DevTools' Memory tab reads, holding the daemon's own strings), /debug/profile?seconds=N a non-empty .cpuprofile
 * taken while real requests go through the proxy. On the admin port both need the token only the user can read; on
 * the control socket none, and a profile longer than Bun's 10 s idle timeout still arrives whole.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { E2EScope, requireBinary, run, runGotunnel, startEchoRoute, stopDaemonOf } from "../helpers/e2e.ts";

const scope = new E2EScope();
afterAll(() => scope.dispose());

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; edge_fields: string[] }; node_count: number; edge_count: number };
  nodes: number[];
  edges: number[];
  strings: string[];
}

async function daemon(env: Record<string, string> = {}) {
  requireBinary();
  const route = await startEchoRoute(scope, "prof", env);
  const status = JSON.parse((await runGotunnel(["status", "--json"], { cwd: route.home, home: route.home })).stdout);
  const admin = `http://127.0.0.1:${status.admin.port}`;
  const tokenFile = status.admin.debugTokenFile as string;
  const token = readFileSync(tokenFile, "utf8").trim();
  const socket = join(route.home, "run", "control.sock");
  const pid = status.pid as number;
  return { ...route, admin, tokenFile, token, socket, pid, auth: { authorization: `Bearer ${token}` } };
}

/** Requests through the proxy by name (SNI and Host), until `stop` is set: the daemon's JavaScript has work. */
function traffic(url: string, ca: string) {
  const { hostname, port } = new URL(url);
  let stop = false;
  const pem = readFileSync(ca, "utf8");
  const loop = async () => {
    while (!stop) {
      const response = await fetch(`https://127.0.0.1:${port}/load`, {
        headers: { host: `${hostname}:${port}` },
        tls: { ca: pem, serverName: hostname },
      } as RequestInit);
      await response.text();
    }
  };
  const loops = Promise.all(Array.from({ length: 4 }, loop));
  return async () => {
    stop = true;
    await loops;
  };
}

interface TrimStats {
  quietMs: number;
  count: number;
  lastTookMs?: number;
}

/** The daemon's idle trims so far, from /debug/memory on its control socket. */
async function trimStats(socket: string): Promise<TrimStats> {
  const memory = await run(["curl", "-sS", "--unix-socket", socket, "http://localhost/debug/memory"]);
  return JSON.parse(memory.stdout).trim as TrimStats;
}

/** Polls until the trim count passes `above` (bounded: with a quiet time of a few hundred ms one is due well before). */
async function trimmedPast(socket: string, above: number): Promise<TrimStats> {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await Bun.sleep(100)) {
    const seen = await trimStats(socket);
    if (seen.count > above) return seen;
  }
  throw new Error(`no trim past ${above} within 20 s`);
}

function checkProfile(profile: CpuProfile): void {
  const ids = new Set(profile.nodes.map((node) => node.id));
  expect(profile.nodes.length).toBeGreaterThan(1);
  expect(profile.nodes[0]?.callFrame.functionName).toBe("(root)");
  expect(profile.samples.length).toBeGreaterThan(0);
  expect(profile.timeDeltas).toHaveLength(profile.samples.length);
  expect(profile.samples.every((id) => ids.has(id))).toBe(true);
  expect(profile.endTime).toBeGreaterThanOrEqual(profile.startTime);
}

describe("profiling endpoints", () => {
  test("/debug/heap: a V8 heap snapshot of the daemon, with the token on the admin port and without on the socket", async () => {
    const { admin, auth, token, tokenFile, socket } = await daemon();
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(token).toMatch(/^[0-9a-f]{64}$/);

    const refused = await fetch(`${admin}/debug/heap`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toBe('Bearer realm="gotunnel"');
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain("debug-token");
    const wrong = await fetch(`${admin}/debug/heap`, { headers: { authorization: `Bearer ${"0".repeat(64)}` } });
    expect(wrong.status).toBe(401);

    const response = await fetch(`${admin}/debug/heap`, { headers: auth });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-disposition")).toMatch(
      /^attachment; filename="gotunnel-\d+-.+\.heapsnapshot"$/,
    );
    const heap = (await response.json()) as HeapSnapshot;
    const { meta, node_count, edge_count } = heap.snapshot;
    expect(heap.nodes).toHaveLength(node_count * meta.node_fields.length);
    expect(heap.edges).toHaveLength(edge_count * meta.edge_fields.length);
    // It is the daemon's heap: the route's name is among its strings.
    expect(heap.strings).toContain("prof.local");

    const file = join(scope.dir("heap"), "daemon.heapsnapshot");
    const viaSocket = await run(["curl", "-sS", "--unix-socket", socket, "-o", file, "http://localhost/debug/heap"]);
    expect(viaSocket.exitCode).toBe(0);
    expect((JSON.parse(readFileSync(file, "utf8")) as HeapSnapshot).snapshot.node_count).toBeGreaterThan(0);
  }, 60_000);

  test("/debug/memory: the daemon's own RSS split by the kernel and its JavaScript heap, token-guarded on the admin port", async () => {
    const { admin, auth, socket, pid } = await daemon();
    expect((await fetch(`${admin}/debug/memory`)).status).toBe(401);
    const response = await fetch(`${admin}/debug/memory?gc=1`, { headers: auth });
    expect(response.status).toBe(200);
    const report = (await response.json()) as {
      collected: boolean;
      bytes: { kernel: Record<string, number>; heap: Record<string, number> };
    };
    expect(report.collected).toBe(true);
    const { kernel, heap } = report.bytes;
    // The figures are the daemon's own (not this test's): its /proc status, read here too, agrees within the
    // pages the two reads are apart.
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const vmRss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) * 1024;
    expect(Math.abs((kernel.rss as number) - vmRss)).toBeLessThan(vmRss / 4);
    expect(kernel.rssAnon).toBeGreaterThan(0);
    expect(kernel.rssFile).toBeGreaterThan(0);
    expect((kernel.rssAnon as number) + (kernel.rssFile as number)).toBeLessThanOrEqual(kernel.rss as number);
    expect(heap.heapSize).toBeGreaterThan(0);
    expect(heap.heapCapacity).toBeGreaterThanOrEqual(heap.heapSize as number);
    expect(heap.objectCount).toBeGreaterThan(0);

    const viaSocket = await run(["curl", "-sS", "--unix-socket", socket, "http://localhost/debug/memory"]);
    expect(viaSocket.exitCode).toBe(0);
    expect(JSON.parse(viaSocket.stdout).collected).toBe(false);
  }, 60_000);

  test("the daemon gives memory back once quiet: /debug/memory counts a trim after each burst of requests", async () => {
    const { url, ca, socket } = await daemon({ GOTUNNEL_IDLE_TRIM_MS: "300" });
    // Start-up is activity too: its garbage goes first.
    const first = await trimmedPast(socket, 0);
    expect(first.quietMs).toBe(300);
    expect(first.lastTookMs).toBeGreaterThanOrEqual(0);
    const stop = traffic(url, ca);
    await Bun.sleep(500);
    await stop();
    // Still serving after the trim threw its compiled code away, and one more trim follows the burst.
    const after = await trimmedPast(socket, first.count);
    const { hostname, port } = new URL(url);
    const response = await fetch(`https://127.0.0.1:${port}/after-trim`, {
      headers: { host: `${hostname}:${port}` },
      tls: { ca: readFileSync(ca, "utf8"), serverName: hostname },
    } as RequestInit);
    expect(response.status).toBe(200);
    expect(after.count).toBeGreaterThan(first.count);
  }, 60_000);

  test("no trim while a WebSocket is bridged (a full GC then can lose its last bytes); one follows its close", async () => {
    requireBinary();
    const upstream = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req, server) => (server.upgrade(req) ? undefined : new Response("ws only", { status: 426 })),
      websocket: { message: (ws, message) => void ws.send(message) },
    });
    scope.defer(() => upstream.stop(true));
    const home = scope.dir("trim-ws");
    scope.defer(() => stopDaemonOf(home));
    const env = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0", GOTUNNEL_IDLE_TRIM_MS: "200" };
    const args = ["start", "-d", "trimws", "-p", String(upstream.port), "--json"];
    const started = await runGotunnel(args, { cwd: home, home, env });
    expect(started.exitCode).toBe(0);
    const ready = JSON.parse(started.stdout.split("\n")[0] ?? "") as {
      routes: { url: string }[];
      ca: { path: string };
    };
    const { hostname, port } = new URL(ready.routes[0]?.url ?? "");
    const socket = join(home, "run", "control.sock");
    const ws = new WebSocket(`wss://127.0.0.1:${port}/`, {
      headers: { host: hostname },
      tls: { ca: readFileSync(ready.ca.path, "utf8"), serverName: hostname },
    } as unknown as string[]);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve());
      ws.addEventListener("error", () => reject(new Error("the WebSocket through gotunnel did not open")));
    });
    const echoed = new Promise<string>((resolve) => ws.addEventListener("message", (event) => resolve(event.data)));
    ws.send("ping");
    expect(await echoed).toBe("ping");
    // Ten quiet times with the socket open and idle: without the guard, several trims would have run by now.
    const open = (await trimStats(socket)).count;
    await Bun.sleep(2_000);
    expect((await trimStats(socket)).count).toBe(open);
    ws.close();
    const after = await trimmedPast(socket, open);
    expect(after.count).toBeGreaterThan(open);
  }, 60_000);

  test("/debug/profile: a non-empty .cpuprofile under load; one at a time; seconds bounded", async () => {
    const { admin, auth, url, ca } = await daemon();
    const stop = traffic(url, ca);
    const pending = fetch(`${admin}/debug/profile?seconds=2`, { headers: auth });
    await Bun.sleep(300);
    const busy = await fetch(`${admin}/debug/profile?seconds=1`, { headers: auth });
    expect(busy.status).toBe(409);
    expect(((await busy.json()) as { error: { code: string } }).error.code).toBe("E_BUSY");
    const response = await pending;
    await stop();
    expect(response.status).toBe(200);
    expect(response.headers.get("content-disposition")).toMatch(/\.cpuprofile"$/);
    checkProfile((await response.json()) as CpuProfile);

    for (const seconds of ["0", "61", "1.5", "ten"]) {
      const bad = await fetch(`${admin}/debug/profile?seconds=${seconds}`, { headers: auth });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { message: string } }).error.message).toBe(
        "seconds must be a whole number from 1 to 60 (default 10)",
      );
    }
    expect((await fetch(`${admin}/debug/profile?seconds=1`)).status).toBe(401);
    const rebound = await fetch(`${admin}/debug/profile?seconds=1`, { headers: { ...auth, host: "evil.example" } });
    expect(rebound.status).toBe(403);
  }, 60_000);

  test("on the control socket a 12 s profile (past Bun's 10 s idle timeout) arrives whole and parses", async () => {
    const { socket, url, ca } = await daemon();
    const file = join(scope.dir("cpu"), "daemon.cpuprofile");
    const stop = traffic(url, ca);
    const result = await run(
      [
        "curl",
        "-sS",
        "--unix-socket",
        socket,
        "-o",
        file,
        "-w",
        "%{http_code}",
        "http://localhost/debug/profile?seconds=12",
      ],
      { timeoutMs: 40_000 },
    );
    await stop();
    expect(result.stdout).toBe("200");
    checkProfile(JSON.parse(readFileSync(file, "utf8")) as CpuProfile);
  }, 60_000);
});
