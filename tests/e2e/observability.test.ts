/**
 * Health and metrics through the compiled binary: the admin port's /metrics passes `promtool check metrics` and its
 * counters move by exactly the requests sent; /health/ready goes degraded when the upstream stops and back when it
 * returns; `gotunnel health` exits 0 (ready or degraded) or 7 (no daemon); the control socket answers the same paths.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import { curl, E2EScope, freePort, requireBinary, run, runGotunnel } from "../helpers/e2e.ts";
import { requireTools } from "../helpers/tools.ts";
import { startWebSocketUpstream } from "../helpers/upstreams.ts";

const promtool = requireTools("promtool");

const PORTS = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };
const scope = new E2EScope();
afterAll(() => scope.dispose());

/** An upstream on a fixed port, so it can be stopped and started again where the route points. */
function upstreamOn(port: number): Server<undefined> {
  return Bun.serve({
    hostname: "127.0.0.1",
    port,
    fetch: (req) => new Response("ok", { status: new URL(req.url).pathname === "/missing" ? 404 : 200 }),
  });
}

async function gotunnel(home: string, args: string[]) {
  return runGotunnel(args, { cwd: home, home, env: PORTS });
}

interface Status {
  ca: { path: string };
  admin?: { port: number };
}

function sampleValue(metrics: string, series: string): number | undefined {
  const line = metrics.split("\n").find((item) => item.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("health and metrics", () => {
  test("metrics count requests exactly, readiness follows the upstream, health exit codes", async () => {
    requireBinary();
    const home = scope.dir("home");
    const port = await freePort();
    let upstream = upstreamOn(port);
    scope.defer(() => upstream.stop(true));
    expect((await gotunnel(home, ["start", "-d", "obs", "-p", String(port), "--json"])).exitCode).toBe(0);
    const status = JSON.parse((await gotunnel(home, ["status", "--json"])).stdout) as Status;
    const admin = `http://127.0.0.1:${status.admin?.port}`;
    const list = JSON.parse((await gotunnel(home, ["list", "--json"])).stdout) as { routes: { url: string }[] };
    const url = list.routes[0]?.url ?? "";

    for (let i = 0; i < 3; i++) expect((await curl(url, { ca: status.ca.path })).exitCode).toBe(0);
    for (let i = 0; i < 2; i++) await curl(`${url}/missing`, { ca: status.ca.path });
    const ready = await fetch(`${admin}/health/ready`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { status: string }).status).toBe("ready");
    expect((await gotunnel(home, ["health"])).exitCode).toBe(0);

    // Down: degraded, still 200, and `health` still exits 0 but names the failed check.
    upstream.stop(true);
    await curl(url, { ca: status.ca.path });
    const degraded = await fetch(`${admin}/health/ready`);
    expect(degraded.status).toBe(200);
    const report = (await degraded.json()) as { status: string; checks: { name: string; ok: boolean }[] };
    expect(report.status).toBe("degraded");
    expect(report.checks.filter((check) => !check.ok).map((check) => check.name)).toEqual(["upstream:obs.local"]);
    const health = await gotunnel(home, ["health"]);
    expect(health.exitCode).toBe(0);
    expect(health.stdout + health.stderr).toContain("upstream:obs.local");

    const metrics = await (await fetch(`${admin}/metrics`)).text();
    const route = 'route="obs.local"';
    expect(sampleValue(metrics, `gotunnel_requests_total{${route},method="GET",code_class="2xx"}`)).toBe(3);
    expect(sampleValue(metrics, `gotunnel_requests_total{${route},method="GET",code_class="4xx"}`)).toBe(2);
    expect(sampleValue(metrics, `gotunnel_requests_total{${route},method="GET",code_class="5xx"}`)).toBe(1);
    expect(sampleValue(metrics, `gotunnel_request_duration_seconds_count{${route}}`)).toBe(6);
    expect(sampleValue(metrics, `gotunnel_upstream_errors_total{${route},kind="refused"}`)).toBe(1);
    expect(sampleValue(metrics, "gotunnel_routes_active")).toBe(1);

    // Back: ready again.
    upstream = upstreamOn(port);
    expect(((await (await fetch(`${admin}/health/ready`)).json()) as { status: string }).status).toBe("ready");

    // The control socket answers the same paths, with no protocol header.
    const live = await fetch("http://gotunnel/health/live", { unix: join(home, "run", "control.sock") });
    expect(live.status).toBe(200);
    const version = (await (await fetch(`${admin}/version`)).json()) as { version: string; bun: string };
    expect(version.bun).toBeString();
    const config = (await (await fetch(`${admin}/debug/config`)).json()) as {
      proxy: { adminPort: number };
      telemetry: { environment: string; otlp: unknown; sentry: unknown };
    };
    expect(config.proxy.adminPort).toBe(0);
    // No endpoint and no DSN in this daemon's environment: nothing configured to leave the machine.
    expect(config.telemetry).toMatchObject({ environment: "development", otlp: null, sentry: null });
  });

  test.skipIf(promtool.skip)(promtool.title("/metrics passes `promtool check metrics`"), async () => {
    requireBinary();
    const home = scope.dir("promtool");
    const port = await freePort();
    const upstream = upstreamOn(port);
    scope.defer(() => upstream.stop(true));
    expect((await gotunnel(home, ["start", "-d", "prom", "-p", String(port), "--json"])).exitCode).toBe(0);
    const status = JSON.parse((await gotunnel(home, ["status", "--json"])).stdout) as Status;
    const list = JSON.parse((await gotunnel(home, ["list", "--json"])).stdout) as { routes: { url: string }[] };
    // One answered and one failed request, so the request series have samples, not just their help lines.
    expect((await curl(list.routes[0]?.url ?? "", { ca: status.ca.path })).exitCode).toBe(0);
    await curl(`${list.routes[0]?.url}/missing`, { ca: status.ca.path });
    const metrics = await (await fetch(`http://127.0.0.1:${status.admin?.port}/metrics`)).text();
    const file = join(scope.dir("metrics"), "metrics.txt");
    writeFileSync(file, metrics);
    const check = await run(["sh", "-c", `promtool check metrics < ${file}`]);
    expect(check.stdout + check.stderr).toBe("");
    expect(check.exitCode).toBe(0);
  });

  test("gauges: open WebSockets, upstream bytes by direction, each route's certificate expiry", async () => {
    requireBinary();
    const home = scope.dir("gauges");
    const upstream = startWebSocketUpstream();
    scope.defer(upstream.stop);
    expect((await gotunnel(home, ["start", "-d", "ws", "-p", String(upstream.port), "--json"])).exitCode).toBe(0);
    const status = JSON.parse((await gotunnel(home, ["status", "--json"])).stdout) as Status & {
      ports: { https: number };
    };
    const scrape = async () => (await fetch(`http://127.0.0.1:${status.admin?.port}/metrics`)).text();
    const ca = await Bun.file(status.ca.path).text();

    const before = await scrape();
    const upload = "x".repeat(10_000);
    const post = await curl(`https://ws.local:${status.ports.https}/upload`, {
      ca: status.ca.path,
      args: ["-X", "POST", "--data-binary", upload],
    });
    expect(post.exitCode).toBe(0);
    const afterPost = await scrape();
    const delta = (metrics: string, direction: string) =>
      (sampleValue(metrics, `gotunnel_upstream_bytes_total{direction="${direction}"}`) ?? Number.NaN) -
      (sampleValue(before, `gotunnel_upstream_bytes_total{direction="${direction}"}`) ?? Number.NaN);
    // The body plus one request head went up; one short 426 answer came back.
    expect(delta(afterPost, "sent")).toBeGreaterThanOrEqual(10_000);
    expect(delta(afterPost, "sent")).toBeLessThan(11_000);
    expect(delta(afterPost, "received")).toBeGreaterThan(0);
    expect(delta(afterPost, "received")).toBeLessThan(1_000);

    const sockets = [0, 1].map(
      () =>
        new WebSocket(`wss://127.0.0.1:${status.ports.https}/hmr`, {
          headers: { host: `ws.local:${status.ports.https}` },
          tls: { ca, serverName: "ws.local" },
        }),
    );
    await Promise.all(sockets.map((ws) => new Promise((resolve) => ws.addEventListener("open", resolve))));
    const open = await scrape();
    expect(sampleValue(open, "gotunnel_websocket_connections")).toBe(2);
    for (const ws of sockets) ws.close(1000, "done");
    let closed = open;
    for (let i = 0; i < 50 && sampleValue(closed, "gotunnel_websocket_connections") !== 0; i++) {
      await Bun.sleep(50);
      closed = await scrape();
    }
    expect(sampleValue(closed, "gotunnel_websocket_connections")).toBe(0);

    // The route's leaf lives under a year from now (browser limit), the CA for years.
    const now = Date.now() / 1000;
    const leaf = sampleValue(closed, 'gotunnel_certificate_expiry_timestamp_seconds{certificate="ws.local"}') ?? 0;
    const caExpiry = sampleValue(closed, 'gotunnel_certificate_expiry_timestamp_seconds{certificate="ca"}') ?? 0;
    expect(leaf - now).toBeGreaterThan(30 * 86_400);
    expect(leaf - now).toBeLessThan(398 * 86_400);
    expect(caExpiry).toBeGreaterThan(leaf);
    expect(sampleValue(closed, "process_heap_bytes")).toBeGreaterThan(0);
  });

  test("`gotunnel health` exits 7 when no daemon runs", async () => {
    const home = scope.dir("idle");
    const result = await gotunnel(home, ["health", "--json"]);
    expect(result.exitCode).toBe(7);
  });
});
