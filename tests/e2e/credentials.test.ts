/**
 * Credentials in URLs through the compiled binary (core/redact.ts): an OTLP endpoint with userinfo and an api_key
 * parameter is shown redacted by `/debug/config` and the daemon log; secret-looking query values of proxied requests
 * are redacted in `gotunnel logs` and in `up`'s request lines (the dev server still gets them); a config error that
 * quotes a URL with a password hides it.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { curl, E2EScope, requireBinary, runGotunnel, startEchoRoute } from "../helpers/e2e.ts";
import { startEchoUpstream } from "../helpers/upstreams.ts";

const scope = new E2EScope();
afterAll(() => scope.dispose());

const PASSWORD = "s3cret-pass";
const API_KEY = "k3y-value";
const TOKEN = "t0ken-value";

/** A collector stand-in, so the exporters' POSTs succeed quietly. */
function startCollector(): number {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => Response.json({}) });
  scope.defer(() => server.stop(true));
  return server.port ?? 0;
}

describe("an OTLP endpoint with credentials", () => {
  test("userinfo and an api_key parameter are redacted in /debug/config and daemon.log, nowhere shown", async () => {
    requireBinary();
    const port = startCollector();
    const base = `http://user:${PASSWORD}@127.0.0.1:${port}/base?tenant=t1&api_key=${API_KEY}`;
    const { home } = await startEchoRoute(scope, "otlpcred", { OTEL_EXPORTER_OTLP_ENDPOINT: base });
    const status = JSON.parse((await runGotunnel(["status", "--json"], { cwd: home, home })).stdout) as {
      admin: { port: number };
    };
    const config = await (await fetch(`http://127.0.0.1:${status.admin.port}/debug/config`)).text();
    const shown = `http://REDACTED:REDACTED@127.0.0.1:${port}/base`;
    const { telemetry } = JSON.parse(config) as { telemetry: { otlp: { tracesUrl: string } } };
    expect(telemetry.otlp.tracesUrl).toBe(`${shown}/v1/traces?tenant=t1&api_key=REDACTED`);
    for (const secret of [PASSWORD, API_KEY]) expect(config).not.toContain(secret);

    const log = readFileSync(join(home, "state", "daemon.log"), "utf8");
    expect(log).toContain(`tracing: exporting spans to ${shown}/v1/traces?tenant=t1&api_key=REDACTED`);
    expect(log).toContain(`metrics: exporting to ${shown}/v1/metrics?tenant=t1&api_key=REDACTED`);
    for (const secret of [PASSWORD, API_KEY]) expect(log).not.toContain(secret);
  });
});

describe("request paths with secret-looking query parameters", () => {
  test("`gotunnel logs` (text and --json) shows their values redacted, other parameters as sent", async () => {
    requireBinary();
    const { home, upstream, url, ca } = await startEchoRoute(scope, "logq", {});
    const path = `/cb?state=xyz&access_token=${TOKEN}&API_KEY=${API_KEY}`;
    expect((await curl(`${url}${path}`, { ca })).status).toBe(200);
    // The dev server still gets the request-target byte for byte: only what gotunnel shows is redacted.
    expect(upstream.seen.at(-1)?.path).toBe(path);

    const json = await runGotunnel(["logs", "--json"], { cwd: home, home });
    expect(json.exitCode).toBe(0);
    const line = JSON.parse(json.stdout.trim().split("\n").at(-1) ?? "{}") as { path: string };
    expect(line.path).toBe("/cb?state=xyz&access_token=REDACTED&API_KEY=REDACTED");
    const text = await runGotunnel(["logs"], { cwd: home, home });
    expect(text.stdout).toContain("/cb?state=xyz&access_token=REDACTED&API_KEY=REDACTED");
    for (const output of [json.stdout, text.stdout])
      for (const secret of [TOKEN, API_KEY]) expect(output).not.toContain(secret);
  });

  test("`up` prints its request lines with the values redacted", async () => {
    requireBinary();
    const upstream = startEchoUpstream();
    scope.defer(upstream.stop);
    const project = scope.project({
      "gotunnel.config.json": JSON.stringify({ routes: { "upq.local": upstream.port } }),
    });
    const session = await scope.up(project, scope.dir("up-home"), ["--log-format", "json"]);
    const url = session.ready.routes[0]?.url;
    expect((await curl(`${url}/x?password=${PASSWORD}&page=2`, { ca: session.caPath })).status).toBe(200);
    await session.stdout.waitFor((line) => line.includes('"status":200'), 10_000);
    expect(session.requestLog().map((record) => record.path)).toEqual(["/x?password=REDACTED&page=2"]);
    expect(session.stdout.text()).not.toContain(PASSWORD);
  });
});

describe("config errors", () => {
  test("a target URL with a password is quoted redacted, in text and in --json", async () => {
    requireBinary();
    const home = scope.dir("config-home");
    const project = scope.project({
      "gotunnel.config.json": JSON.stringify({ routes: { app: `http://deploy:${PASSWORD}@localhost:3000` } }),
    });
    for (const args of [["up"], ["up", "--json"]]) {
      const result = await runGotunnel(args, { cwd: project, home });
      expect(result.exitCode).toBe(3);
      const output = result.stdout + result.stderr;
      expect(output).toContain("the URL contains credentials");
      expect(output).toContain("http://REDACTED:REDACTED@localhost:3000");
      expect(output).not.toContain(PASSWORD);
    }
  });
});
