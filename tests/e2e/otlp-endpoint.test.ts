/**
 * OTLP endpoint variables through the compiled binary: a base endpoint with a query string gets the signal's path
 * on its path, so the collector receives `<path>/v1/traces?<query>` and `/v1/metrics?<query>`; an endpoint that is
 * no URL is ignored with one warning in the daemon log, and the daemon serves on (it used to crash at start).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { curl, E2EScope, requireBinary, startEchoRoute, until } from "../helpers/e2e.ts";

const scope = new E2EScope();
afterAll(() => scope.dispose());

/** A collector stand-in that answers every POST and records where it went: path and query, as received. */
function startCollector() {
  const targets: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      await req.arrayBuffer();
      const url = new URL(req.url);
      if (req.method === "POST") targets.push(`${url.pathname}${url.search}`);
      return Response.json({});
    },
  });
  scope.defer(() => server.stop(true));
  return { port: server.port, targets };
}

describe("OTEL_EXPORTER_OTLP_ENDPOINT", () => {
  test("with a query string: the collector gets <path>/v1/traces?<query> and <path>/v1/metrics?<query>", async () => {
    requireBinary();
    const collector = startCollector();
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.port}/base?tenant=t1`,
      OTEL_BSP_SCHEDULE_DELAY: "100",
      OTEL_METRIC_EXPORT_INTERVAL: "200",
    };
    const { url, ca } = await startEchoRoute(scope, "otlpq", env);
    expect((await curl(`${url}/items`, { ca })).status).toBe(200);
    const sent = (path: string) => until(() => (collector.targets.includes(path) ? path : undefined));
    expect(await sent("/base/v1/traces?tenant=t1")).toBe("/base/v1/traces?tenant=t1");
    expect(await sent("/base/v1/metrics?tenant=t1")).toBe("/base/v1/metrics?tenant=t1");
    // Nothing went where string concatenation pointed (`/base?tenant=t1/v1/traces`).
    expect(collector.targets.filter((target) => !target.startsWith("/base/v1/"))).toEqual([]);
  });

  test("that is no URL: ignored with a warning naming the variable; the daemon starts and serves", async () => {
    requireBinary();
    const { home, url, ca } = await startEchoRoute(scope, "otlpbad", { OTEL_EXPORTER_OTLP_ENDPOINT: "127.0.0.1:4318" });
    expect((await curl(`${url}/items`, { ca })).status).toBe(200);
    const log = readFileSync(join(home, "state", "daemon.log"), "utf8");
    expect(log).toContain(
      "telemetry: OTEL_EXPORTER_OTLP_ENDPOINT=127.0.0.1:4318 is not an http(s) URL, so it is ignored; e.g. http://127.0.0.1:4318",
    );
    expect(log).not.toContain("exporting");
    expect(log).not.toContain("crashed");
  });
});
