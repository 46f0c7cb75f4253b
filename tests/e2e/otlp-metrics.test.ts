/**
 * Metrics over OTLP through the compiled binary, against a local receiver (a Bun.serve that records POST
 * /v1/metrics): the request counter and duration histogram /metrics shows arrive as a cumulative sum and histogram
 * with the route's attributes, and GOTUNNEL_TELEMETRY=0 keeps them home even with an endpoint set.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { curl, E2EScope, requireBinary, startEchoRoute, stopDaemonOf, until } from "../helpers/e2e.ts";

const scope = new E2EScope();
afterAll(() => scope.dispose());

interface DataPoint {
  attributes: { key: string; value: { stringValue: string } }[];
  asInt?: string;
  count?: string;
  bucketCounts?: string[];
}

interface OtlpMetric {
  name: string;
  sum?: { isMonotonic: boolean; aggregationTemporality: number; dataPoints: DataPoint[] };
  histogram?: { aggregationTemporality: number; dataPoints: DataPoint[] };
}

interface MetricsBody {
  resourceMetrics: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeMetrics: { metrics: OtlpMetric[] }[];
  }[];
}

/** A local OTLP/HTTP collector stand-in: keeps every body POSTed to /v1/metrics. */
function startReceiver() {
  const bodies: MetricsBody[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      if (req.method !== "POST" || new URL(req.url).pathname !== "/v1/metrics") return Response.json({});
      bodies.push((await req.json()) as MetricsBody);
      return Response.json({});
    },
  });
  scope.defer(() => server.stop(true));
  return { endpoint: `http://127.0.0.1:${server.port}`, bodies };
}

function metricsOf(body: MetricsBody): OtlpMetric[] {
  return body.resourceMetrics.flatMap((resource) => resource.scopeMetrics.flatMap((scoped) => scoped.metrics));
}

function attributesOf(point: DataPoint): Record<string, string> {
  return Object.fromEntries(point.attributes.map(({ key, value }) => [key, value.stringValue]));
}

describe("OTLP metrics", () => {
  test("the request counter and duration histogram reach the collector as /metrics counts them", async () => {
    requireBinary();
    const receiver = startReceiver();
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_METRIC_EXPORT_INTERVAL: "200" };
    const { home, url, ca } = await startEchoRoute(scope, "m", env);
    for (let i = 0; i < 3; i++) expect((await curl(url, { ca })).status).toBe(200);

    // Cumulative: a later export carries the total, so wait for a body whose counter says 3.
    const latest = (name: string) => () =>
      receiver.bodies
        .map((body) => metricsOf(body).find((metric) => metric.name === name))
        .findLast((metric) => metric !== undefined);
    const requests = await until(() => {
      const metric = latest("gotunnel_requests_total")();
      return metric?.sum?.dataPoints.some((point) => point.asInt === "3") ? metric : undefined;
    });
    expect(requests?.sum).toMatchObject({ isMonotonic: true, aggregationTemporality: 2 });
    const point = requests?.sum?.dataPoints.find((item) => item.asInt === "3");
    expect(point && attributesOf(point)).toEqual({ route: "m.local", method: "GET", code_class: "2xx" });

    const durations = await until(() => {
      const metric = latest("gotunnel_request_duration_seconds")();
      return metric?.histogram?.dataPoints[0]?.count === "3" ? metric : undefined;
    });
    expect(durations?.histogram?.aggregationTemporality).toBe(2);
    const histogram = durations?.histogram?.dataPoints[0];
    expect(histogram && attributesOf(histogram)).toEqual({ route: "m.local" });
    expect(histogram?.bucketCounts?.reduce((total, count) => total + Number(count), 0)).toBe(3);

    const resource = receiver.bodies[0]?.resourceMetrics[0]?.resource.attributes ?? [];
    expect(resource.find((item) => item.key === "service.name")?.value.stringValue).toBe("gotunnel");

    // The daemon's way out sends the final totals once more.
    const before = receiver.bodies.length;
    await stopDaemonOf(home);
    expect(receiver.bodies.length).toBeGreaterThan(before);
    const log = readFileSync(join(home, "state", "daemon.log"), "utf8");
    expect(log).toContain(`metrics: exporting to ${receiver.endpoint}/v1/metrics every 200 ms`);
  });

  test("GOTUNNEL_TELEMETRY=0 wins over a configured endpoint", async () => {
    requireBinary();
    const receiver = startReceiver();
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_METRIC_EXPORT_INTERVAL: "100",
      GOTUNNEL_TELEMETRY: "0",
    };
    const { home, url, ca } = await startEchoRoute(scope, "optout", env);
    await curl(url, { ca });
    await Bun.sleep(1_000);
    await stopDaemonOf(home);
    expect(receiver.bodies).toEqual([]);
    expect(readFileSync(join(home, "state", "daemon.log"), "utf8")).not.toContain("metrics: exporting");
  });
});
