/** The hand-written Prometheus exposition (telemetry/prometheus.ts), the request counters and readiness rules. */
import { describe, expect, test } from "bun:test";
import { overall, readiness, readinessHttpStatus } from "../../src/daemon/health.ts";
import { codeClass, DURATION_BUCKETS_SECONDS, RequestMetrics, upstreamErrorKind } from "../../src/telemetry/metrics.ts";
import { escapeLabelValue, formatValue, writeExposition, writeFamily } from "../../src/telemetry/prometheus.ts";

describe("exposition writer", () => {
  test("escapes backslash, double quote and newline in label values, and nothing else", () => {
    expect(escapeLabelValue('a\\b"c\nd é')).toBe('a\\\\b\\"c\\nd é');
    const text = writeFamily({
      name: "x_total",
      help: "line one\nback\\slash",
      type: "counter",
      samples: [{ labels: { route: 'we"ird\\name\n' }, value: 3 }],
    });
    expect(text).toBe(
      '# HELP x_total line one\\nback\\\\slash\n# TYPE x_total counter\nx_total{route="we\\"ird\\\\name\\n"} 3\n',
    );
  });

  test("unlabelled samples have no braces; special values use Prometheus spelling", () => {
    expect(writeFamily({ name: "g", help: "h", type: "gauge", samples: [{ value: 1.5 }] })).toEndWith("\ng 1.5\n");
    expect([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN].map(formatValue)).toEqual([
      "+Inf",
      "-Inf",
      "NaN",
    ]);
  });

  test("histogram buckets are cumulative, end with +Inf equal to _count, then _sum and _count", () => {
    const text = writeFamily({
      name: "d_seconds",
      help: "h",
      type: "histogram",
      series: [{ labels: { route: "a" }, bounds: [0.1, 1], counts: [2, 3, 1], sum: 4.25 }],
    });
    expect(text.split("\n").slice(2, -1)).toEqual([
      'd_seconds_bucket{route="a",le="0.1"} 2',
      'd_seconds_bucket{route="a",le="1"} 5',
      'd_seconds_bucket{route="a",le="+Inf"} 6',
      'd_seconds_sum{route="a"} 4.25',
      'd_seconds_count{route="a"} 6',
    ]);
  });

  test("families are concatenated in order, each with its HELP and TYPE", () => {
    const text = writeExposition([
      { name: "a", help: "A", type: "gauge", samples: [] },
      { name: "b", help: "B", type: "counter", samples: [{ value: 0 }] },
    ]);
    expect(text).toBe("# HELP a A\n# TYPE a gauge\n# HELP b B\n# TYPE b counter\nb 0\n");
  });
});

describe("request metrics", () => {
  const request = { method: "GET", status: 200, durationMs: 20, route: "app.local", error: undefined };

  test("counts by route, method and status class; ignores unrouted requests", () => {
    const metrics = new RequestMetrics();
    for (let i = 0; i < 3; i++) metrics.observe(request);
    metrics.observe({ ...request, status: 404 });
    metrics.observe({ ...request, method: "BREW" });
    metrics.observe({ ...request, route: undefined });
    const [requests] = metrics.families();
    expect(requests?.type === "counter" ? requests.samples : []).toEqual([
      { labels: { route: "app.local", method: "GET", code_class: "2xx" }, value: 3 },
      { labels: { route: "app.local", method: "GET", code_class: "4xx" }, value: 1 },
      { labels: { route: "app.local", method: "OTHER", code_class: "2xx" }, value: 1 },
    ]);
  });

  test("durations land in the first bucket at or above them; errors are counted by kind", () => {
    const metrics = new RequestMetrics();
    metrics.observe({ ...request, durationMs: 5 });
    metrics.observe({ ...request, durationMs: 60_000 });
    metrics.observe({ ...request, status: 502, error: { kind: "refused" } });
    const [, durations, errors] = metrics.families();
    const series = durations?.type === "histogram" ? durations.series[0] : undefined;
    expect(series?.counts[0]).toBe(1);
    expect(series?.counts[DURATION_BUCKETS_SECONDS.length]).toBe(1);
    expect(series?.sum).toBeCloseTo(60.025);
    expect(errors?.type === "counter" ? errors.samples : []).toEqual([
      { labels: { route: "app.local", kind: "refused" }, value: 1 },
    ]);
  });

  test("status classes and error kinds come from small fixed sets", () => {
    expect([101, 204, 302, 499, 503, 0, 700].map(codeClass)).toEqual([
      "1xx",
      "2xx",
      "3xx",
      "4xx",
      "5xx",
      "other",
      "other",
    ]);
    expect(
      [{ code: "ECONNREFUSED" }, { kind: "timeout" }, { code: "ECONNRESET" }, null, "x"].map(upstreamErrorKind),
    ).toEqual(["refused", "timeout", "reset", "other", "other"]);
  });
});

describe("readiness", () => {
  const check = (ok: boolean, required: boolean) => ({ name: "c", ok, required, detail: "" });

  test("a failed required check is not-ready (503); a failed optional one only degrades (200)", () => {
    expect(overall([check(true, true), check(true, false)])).toBe("ready");
    expect(overall([check(true, true), check(false, false)])).toBe("degraded");
    expect(overall([check(false, true), check(false, false)])).toBe("not-ready");
    const report = (status: "ready" | "degraded" | "not-ready") => ({ status, version: "v", checks: [] });
    expect(["ready", "degraded", "not-ready"].map((s) => readinessHttpStatus(report(s as "ready")))).toEqual([
      200, 200, 503,
    ]);
  });
});

describe("readiness of a daemon", () => {
  const now = new Date("2026-01-01T00:00:00Z");
  const status = (https: number, notAfter: string) =>
    ({ ports: { https, http: 80 }, ca: { path: "/ca.pem", notAfter } }) as never;

  test("unbound listeners or an expired CA are not-ready; a CA expiring within 30 days only degrades", async () => {
    const routes = async () => [];
    const of = (https: number, notAfter: string) => readiness({ status: () => status(https, notAfter), routes }, now);
    expect((await of(443, "2030-01-01T00:00:00Z")).status).toBe("ready");
    expect((await of(0, "2030-01-01T00:00:00Z")).status).toBe("not-ready");
    expect((await of(443, "2025-12-01T00:00:00Z")).status).toBe("not-ready");
    expect((await of(443, "2026-01-10T00:00:00Z")).status).toBe("degraded");
  });
});
