/**
 * The OTLP metrics exporter (telemetry/otlp-metrics.ts): the families /metrics shows become an
 * ExportMetricsServiceRequest in the protobuf JSON mapping, and the periodic exporter POSTs them to a local receiver,
 * one at a time, logging a failing collector once and sending the final totals on shutdown.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { DURATION_BUCKETS_SECONDS, RequestMetrics } from "../../src/telemetry/metrics.ts";
import { MetricsExporter, metricsRequest, unitOf } from "../../src/telemetry/otlp-metrics.ts";
import type { Family } from "../../src/telemetry/prometheus.ts";

const START_MS = 1_700_000_000_000;
const NOW_MS = 1_700_000_060_000;
const OPTIONS = {
  resource: { "service.name": "gotunnel", "service.version": "1.2.3" },
  scope: { name: "gotunnel", version: "1.2.3" },
  startMs: START_MS,
  nowMs: NOW_MS,
};

function metricsOf(families: Family[]) {
  const request = metricsRequest(families, OPTIONS);
  return request.resourceMetrics[0]?.scopeMetrics[0]?.metrics as Record<string, unknown>[];
}

describe("conversion", () => {
  test("a counter is a monotonic cumulative sum of int points with string attributes and times", () => {
    const counter: Family = {
      name: "gotunnel_requests_total",
      help: "Requests proxied.",
      type: "counter",
      samples: [{ labels: { route: "m.local", method: "GET", code_class: "2xx" }, value: 3 }],
    };
    expect(metricsOf([counter])).toEqual([
      {
        name: "gotunnel_requests_total",
        description: "Requests proxied.",
        sum: {
          aggregationTemporality: 2,
          isMonotonic: true,
          dataPoints: [
            {
              attributes: [
                { key: "route", value: { stringValue: "m.local" } },
                { key: "method", value: { stringValue: "GET" } },
                { key: "code_class", value: { stringValue: "2xx" } },
              ],
              startTimeUnixNano: "1700000000000000000",
              timeUnixNano: "1700000060000000000",
              asInt: "3",
            },
          ],
        },
      },
    ]);
  });

  test("a gauge has no start time; a family with a fraction is all doubles; empty families are left out", () => {
    const gauge: Family = {
      name: "g",
      help: "A gauge.",
      type: "gauge",
      samples: [{ labels: { a: "x" }, value: 1 }, { value: 2.5 }],
    };
    const empty: Family = { name: "e_total", help: "Nothing yet.", type: "counter", samples: [] };
    expect(metricsOf([gauge, empty])).toEqual([
      {
        name: "g",
        description: "A gauge.",
        gauge: {
          dataPoints: [
            {
              attributes: [{ key: "a", value: { stringValue: "x" } }],
              timeUnixNano: "1700000060000000000",
              asDouble: 1,
            },
            { attributes: [], timeUnixNano: "1700000060000000000", asDouble: 2.5 },
          ],
        },
      },
    ]);
  });

  test("a histogram keeps per-bucket counts (+Inf last), its bounds, count and sum, as RequestMetrics counted", () => {
    const metrics = new RequestMetrics();
    for (const durationMs of [3, 40, 40, 20_000])
      metrics.observe({ route: "m.local", method: "GET", status: 200, durationMs, error: undefined });
    const histogram = metrics.families().find((family) => family.name === "gotunnel_request_duration_seconds");
    const [metric] = metricsOf(histogram ? [histogram] : []);
    const bucketCounts = DURATION_BUCKETS_SECONDS.map(() => "0").concat("0");
    bucketCounts[0] = "1"; // 0.003 s ≤ 0.005
    bucketCounts[3] = "2"; // 0.04 s in (0.025, 0.05]
    bucketCounts[DURATION_BUCKETS_SECONDS.length] = "1"; // 20 s > 10 s: +Inf
    expect(metric).toEqual({
      name: "gotunnel_request_duration_seconds",
      description: "Time from request to upstream response headers, by route.",
      unit: "s",
      histogram: {
        aggregationTemporality: 2,
        dataPoints: [
          {
            attributes: [{ key: "route", value: { stringValue: "m.local" } }],
            startTimeUnixNano: "1700000000000000000",
            timeUnixNano: "1700000060000000000",
            count: "4",
            sum: expect.closeTo(20.083, 9),
            bucketCounts,
            explicitBounds: [...DURATION_BUCKETS_SECONDS],
          },
        ],
      },
    });
  });

  test("units come from the names' unit suffixes (seconds, bytes, before _total); counts get none", () => {
    expect(unitOf("gotunnel_request_duration_seconds")).toBe("s");
    expect(unitOf("gotunnel_certificate_expiry_timestamp_seconds")).toBe("s");
    expect(unitOf("gotunnel_upstream_bytes_total")).toBe("By");
    expect(unitOf("process_resident_memory_bytes")).toBe("By");
    expect(unitOf("gotunnel_requests_total")).toBeUndefined();
    expect(unitOf("gotunnel_websocket_connections")).toBeUndefined();
    const bytes: Family = {
      name: "gotunnel_upstream_bytes_total",
      help: "Bytes.",
      type: "counter",
      samples: [{ labels: { direction: "sent" }, value: 10 }],
    };
    expect(metricsOf([bytes])[0]?.unit).toBe("By");
  });

  test("the resource and scope wrap the metrics", () => {
    const request = metricsRequest([], OPTIONS);
    expect(request.resourceMetrics[0]?.resource.attributes).toEqual([
      { key: "service.name", value: { stringValue: "gotunnel" } },
      { key: "service.version", value: { stringValue: "1.2.3" } },
    ]);
    expect(request.resourceMetrics[0]?.scopeMetrics[0]?.scope).toEqual({ name: "gotunnel", version: "1.2.3" });
  });
});

describe("exporter", () => {
  const stops: (() => void)[] = [];
  afterEach(() => {
    for (const stop of stops.splice(0)) stop();
  });

  function receiver(status: () => number) {
    const bodies: { body: unknown; headers: Headers }[] = [];
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        bodies.push({ body: await req.json(), headers: req.headers });
        return new Response("{}", { status: status() });
      },
    });
    stops.push(() => server.stop(true));
    return { url: `http://127.0.0.1:${server.port}/v1/metrics`, bodies };
  }

  function exporter(url: string, collect: () => Promise<Family[]>, logs: string[]) {
    const settings = { metricsUrl: url, headers: { "api-key": "k" }, intervalMs: 60_000, timeoutMs: 2_000 };
    const log = (level: string, message: string) => logs.push(`${level}: ${message}`);
    const created = new MetricsExporter({ ...OPTIONS, settings, collect, log });
    stops.push(() => void created.shutdown());
    return created;
  }

  const families = async (): Promise<Family[]> => [{ name: "g", help: "g", type: "gauge", samples: [{ value: 1 }] }];

  test("POSTs JSON with the configured headers; concurrent exports share one POST; shutdown sends the last", async () => {
    const { url, bodies } = receiver(() => 200);
    const logs: string[] = [];
    const metrics = exporter(url, families, logs);
    await Promise.all([metrics.export(), metrics.export()]);
    expect(bodies).toHaveLength(1);
    expect(bodies[0]?.headers.get("content-type")).toBe("application/json");
    expect(bodies[0]?.headers.get("api-key")).toBe("k");
    expect(JSON.stringify(bodies[0]?.body)).toContain('"name":"g"');
    await metrics.shutdown();
    expect(bodies).toHaveLength(2);
    expect(metrics.exported).toBe(2);
    expect(logs).toEqual([]);
  });

  test("a failing collector is logged once per outage, and its recovery once", async () => {
    let status = 503;
    const { url } = receiver(() => status);
    const logs: string[] = [];
    const metrics = exporter(url, families, logs);
    await metrics.export();
    await metrics.export();
    status = 200;
    await metrics.export();
    expect(logs).toEqual([
      `warn: OTLP: exporting metrics to ${url} failed (the collector answered 503); retrying quietly each interval`,
      `info: OTLP: exporting metrics to ${url} works again`,
    ]);
  });
});
