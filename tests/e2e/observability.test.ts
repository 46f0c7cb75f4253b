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
    const file = join(scope.dir("metrics"), "metrics.txt");
    writeFileSync(file, metrics);
    const check = await run(["sh", "-c", `promtool check metrics < ${file}`]);
    expect(check.stdout + check.stderr).toBe("");
    expect(check.exitCode).toBe(0);
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
    const config = (await (await fetch(`${admin}/debug/config`)).json()) as { proxy: { adminPort: number } };
    expect(config.proxy.adminPort).toBe(0);
  });

  test("`gotunnel health` exits 7 when no daemon runs", async () => {
    const home = scope.dir("idle");
    const result = await gotunnel(home, ["health", "--json"]);
    expect(result.exitCode).toBe(7);
  });
});
