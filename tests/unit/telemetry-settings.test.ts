import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { overridesFrom } from "../../src/cli/args.ts";
import { loadConfig } from "../../src/config/load.ts";
import { describeSettings, parseHeaders, telemetrySettings } from "../../src/telemetry/settings.ts";

const DSN = "https://abc123@o1.ingest.example.test/42";

async function load(env: Record<string, string>, flags: Parameters<typeof overridesFrom>[0] = {}) {
  const dir = mkdtempSync(join(tmpdir(), "gt-settings-"));
  return (await loadConfig({ cwd: dir, env: { GOTUNNEL_HOME: dir, ...env }, overrides: overridesFrom(flags) })).config;
}

describe("environment profiles", () => {
  test("development is the default: text logs, everything sampled, nothing exported", async () => {
    const config = await load({});
    expect(config.observability.environment).toBe("development");
    expect(config.log).toEqual({ format: "text", level: "info" });
    expect(telemetrySettings(config.observability, {})).toEqual({
      environment: "development",
      endpointNotes: [],
      disabledBy: undefined,
      otlp: undefined,
      otlpMetrics: undefined,
      sentry: undefined,
    });
  });

  test("ENVIRONMENT=prod gives production: JSON logs and the production sample rates", async () => {
    const config = await load({ ENVIRONMENT: "prod", OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318/" });
    expect(config.log.format).toBe("json");
    const settings = telemetrySettings(config.observability, { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318/" });
    expect(settings.otlp).toEqual({
      tracesUrl: "http://127.0.0.1:4318/v1/traces",
      headers: {},
      sampleRate: 0.05,
      tracesPerSecond: 1000,
      protocol: "http/protobuf",
      protocolNote: undefined,
      samplerNote: undefined,
    });
  });

  test("--environment beats ENVIRONMENT; an explicit log.format beats the profile", async () => {
    const config = await load({ ENVIRONMENT: "production", GOTUNNEL_LOG_FORMAT: "text" }, { environment: "staging" });
    expect(config.observability.environment).toBe("staging");
    expect(config.log.format).toBe("text");
  });

  test("a bad --environment is a usage error naming the valid values", () => {
    expect(() => overridesFrom({ environment: "prd" })).toThrow(
      '--environment expects one of development, staging, production, got "prd"',
    );
  });

  test("a bad ENVIRONMENT value is a config error that names the variable", async () => {
    await expect(load({ ENVIRONMENT: "qa" })).rejects.toThrow(/environment variable ENVIRONMENT.*"qa"/s);
  });

  test("config sample rates override the profile; out-of-range rates are rejected", async () => {
    const env = { SENTRY_DSN: DSN };
    const config = await load({ ...env, GOTUNNEL_ENVIRONMENT: "staging" });
    expect(telemetrySettings({ ...config.observability, sentryTracesSampleRate: 0.5 }, env).sentry).toEqual({
      dsn: DSN,
      sampleRate: 1,
      tracesSampleRate: 0.5,
    });
    expect(telemetrySettings(config.observability, env).sentry?.tracesSampleRate).toBe(0.2);
  });
});

describe("the cap on new traces a second", () => {
  const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" };
  const otlp = async (env: Record<string, string>) =>
    telemetrySettings((await load({ ...endpoint, ...env })).observability, { ...endpoint, ...env }).otlp;

  test("every profile caps at 1000 a second; GOTUNNEL_TRACES_PER_SECOND sets a number or unlimited", async () => {
    expect((await otlp({}))?.tracesPerSecond).toBe(1000);
    expect((await otlp({ ENVIRONMENT: "production" }))?.tracesPerSecond).toBe(1000);
    expect((await otlp({ GOTUNNEL_TRACES_PER_SECOND: "50" }))?.tracesPerSecond).toBe(50);
    expect((await otlp({ GOTUNNEL_TRACES_PER_SECOND: "0.5" }))?.tracesPerSecond).toBe(0.5);
    expect((await otlp({ GOTUNNEL_TRACES_PER_SECOND: "Unlimited" }))?.tracesPerSecond).toBe(Infinity);
  });

  test.each(["0", "-5", "lots", "1e9x"])(
    "GOTUNNEL_TRACES_PER_SECOND=%s is an error naming the variable",
    async (value) => {
      await expect(load({ GOTUNNEL_TRACES_PER_SECOND: value })).rejects.toThrow(
        /environment variable GOTUNNEL_TRACES_PER_SECOND: expected a number of traces a second above 0 \(e\.g\. 100\), or "unlimited"/,
      );
    },
  );

  test("a standard OTEL_TRACES_SAMPLER sets the ratio and lifts the cap, unless the config sets one", async () => {
    expect(await otlp({ OTEL_TRACES_SAMPLER: "always_on" })).toMatchObject({
      sampleRate: 1,
      tracesPerSecond: Infinity,
    });
    expect(await otlp({ OTEL_TRACES_SAMPLER: "parentbased_always_off" })).toMatchObject({ sampleRate: 0 });
    expect(
      await otlp({ OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.2" }),
    ).toMatchObject({ sampleRate: 0.2, tracesPerSecond: Infinity });
    // The spec's default ratio for traceidratio without a valid argument is 1.
    expect(await otlp({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "2" })).toMatchObject({
      sampleRate: 1,
    });
    const both = await otlp({ OTEL_TRACES_SAMPLER: "always_on", GOTUNNEL_TRACES_PER_SECOND: "10" });
    expect(both?.tracesPerSecond).toBe(10);
  });

  test("an OTEL_TRACES_SAMPLER we do not have leaves the profile's sampling, with a note saying so", async () => {
    const settings = await otlp({ OTEL_TRACES_SAMPLER: "jaeger_remote" });
    expect(settings).toMatchObject({ sampleRate: 1, tracesPerSecond: 1000 });
    expect(settings?.samplerNote).toContain("OTEL_TRACES_SAMPLER=jaeger_remote: expected always_on, always_off");
  });

  test("/debug/config shows the cap, and unlimited as a word (JSON has no Infinity)", async () => {
    const capped = telemetrySettings({ environment: "development" }, endpoint);
    expect(describeSettings(capped).otlp).toMatchObject({ tracesPerSecond: 1000 });
    const open = telemetrySettings({ environment: "development", tracesPerSecond: "unlimited" }, endpoint);
    expect(JSON.parse(JSON.stringify(describeSettings(open))).otlp.tracesPerSecond).toBe("unlimited");
  });
});

describe("admin port", () => {
  test("GOTUNNEL_ADMIN_PORT=off (or adminPort: false) turns it off; other words are errors naming the variable", async () => {
    expect((await load({ GOTUNNEL_ADMIN_PORT: "off" })).proxy.adminPort).toBe(false);
    expect((await load({ GOTUNNEL_ADMIN_PORT: "9100" })).proxy.adminPort).toBe(9100);
    await expect(load({ GOTUNNEL_ADMIN_PORT: "nine" })).rejects.toThrow(
      /environment variable GOTUNNEL_ADMIN_PORT: expected an integer port from 0 to 65535, or false/,
    );
  });
});

describe("exports", () => {
  const config = { environment: "development" as const, sentryDsn: DSN, otlpEndpoint: "http://127.0.0.1:4318" };

  test.each([
    [{ GOTUNNEL_TELEMETRY: "0" }, "GOTUNNEL_TELEMETRY=0"],
    [{ DO_NOT_TRACK: "1" }, "DO_NOT_TRACK=1"],
  ])("%j turns every export off, even with a DSN and an endpoint", (env, reason) => {
    expect(telemetrySettings(config, env)).toEqual({
      environment: "development",
      endpointNotes: [],
      disabledBy: reason,
      otlp: undefined,
      otlpMetrics: undefined,
      sentry: undefined,
    });
  });

  test.each([
    ["http://c:4318", "http://c:4318/v1/traces"],
    ["http://c:4318/", "http://c:4318/v1/traces"],
    ["http://c:4318/base//", "http://c:4318/base/v1/traces"],
    ["http://c:4318/base?x=1", "http://c:4318/base/v1/traces?x=1"],
    ["https://c/otlp/?key=a%20b&y=2", "https://c/otlp/v1/traces?key=a%20b&y=2"],
  ])("the base endpoint %s gets v1/traces on its path, its query kept: %s", (base, url) => {
    expect(telemetrySettings(config, { OTEL_EXPORTER_OTLP_ENDPOINT: base }).otlp?.tracesUrl).toBe(url);
  });

  test("a query in observability.otlpEndpoint stays a query for metrics too", () => {
    const withQuery = { ...config, otlpEndpoint: "http://c:4318/base?x=1" };
    expect(telemetrySettings(withQuery, {}).otlpMetrics?.metricsUrl).toBe("http://c:4318/base/v1/metrics?x=1");
  });

  test("an endpoint variable that is no http(s) URL is ignored with a note; the next source is used", () => {
    const noConfig = { ...config, otlpEndpoint: undefined };
    const bad = telemetrySettings(noConfig, { OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" });
    expect(bad.otlp).toBeUndefined();
    expect(bad.otlpMetrics).toBeUndefined();
    expect(bad.endpointNotes).toEqual([
      "OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318 is not an http(s) URL, so it is ignored; e.g. http://127.0.0.1:4318",
    ]);
    const fallback = telemetrySettings(config, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "not a url" });
    expect(fallback.otlp?.tracesUrl).toBe("http://127.0.0.1:4318/v1/traces");
    expect(fallback.endpointNotes).toHaveLength(1);
  });

  test("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as is; OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER=none win", () => {
    const traces = "http://collector.test:4318/custom";
    expect(telemetrySettings(config, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: traces }).otlp?.tracesUrl).toBe(traces);
    expect(telemetrySettings(config, { OTEL_SDK_DISABLED: "true" }).otlp).toBeUndefined();
    expect(telemetrySettings(config, { OTEL_TRACES_EXPORTER: "none" }).otlp).toBeUndefined();
    expect(telemetrySettings(config, { OTEL_TRACES_SAMPLER_ARG: "0.3" }).otlp?.sampleRate).toBe(0.3);
  });

  test("traces go as http/protobuf unless a protocol variable says http/json; gRPC falls back with a note", () => {
    const protocol = (env: Record<string, string>) => telemetrySettings(config, env).otlp;
    expect(protocol({})?.protocol).toBe("http/protobuf");
    expect(protocol({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" })?.protocol).toBe("http/json");
    // The signal's own variable wins over the shared one.
    const both = { OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/protobuf" };
    expect(protocol(both)?.protocol).toBe("http/protobuf");
    const grpc = protocol({ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" });
    expect(grpc?.protocol).toBe("http/protobuf");
    expect(grpc?.protocolNote).toBe(
      "OTEL_EXPORTER_OTLP_PROTOCOL=grpc: gRPC is not supported; sending traces as http/protobuf (use port 4318, the OTLP/HTTP one)",
    );
    expect(protocol({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "thrift" })?.protocolNote).toContain(
      "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=thrift: expected http/protobuf or http/json",
    );
  });

  test("metrics go to <endpoint>/v1/metrics every 60 s by default, with the shared and the metrics headers", () => {
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector.test:4318/",
      OTEL_EXPORTER_OTLP_HEADERS: "api-key=a,x=1",
      OTEL_EXPORTER_OTLP_METRICS_HEADERS: "x=2",
    };
    expect(telemetrySettings(config, env).otlpMetrics).toEqual({
      metricsUrl: "http://collector.test:4318/v1/metrics",
      headers: { "api-key": "a", x: "2" },
      intervalMs: 60_000,
      timeoutMs: 10_000,
    });
    // observability.otlpEndpoint when no variable names one.
    expect(telemetrySettings(config, {}).otlpMetrics?.metricsUrl).toBe("http://127.0.0.1:4318/v1/metrics");
  });

  test("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is used as is; interval and timeout variables; bad numbers ignored", () => {
    const metrics = "http://collector.test:4318/custom";
    const settings = telemetrySettings(config, {
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: metrics,
      OTEL_METRIC_EXPORT_INTERVAL: "200",
      OTEL_EXPORTER_OTLP_TIMEOUT: "3000",
    }).otlpMetrics;
    expect(settings).toMatchObject({ metricsUrl: metrics, intervalMs: 200, timeoutMs: 3000 });
    const specific = { OTEL_EXPORTER_OTLP_TIMEOUT: "3000", OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: "500" };
    expect(telemetrySettings(config, specific).otlpMetrics?.timeoutMs).toBe(500);
    const bad = { OTEL_METRIC_EXPORT_INTERVAL: "-5", OTEL_EXPORTER_OTLP_TIMEOUT: "soon" };
    expect(telemetrySettings(config, bad).otlpMetrics).toMatchObject({ intervalMs: 60_000, timeoutMs: 10_000 });
  });

  test("OTEL_METRICS_EXPORTER=none turns metrics off only; OTEL_SDK_DISABLED turns both off", () => {
    const metricsOff = telemetrySettings(config, { OTEL_METRICS_EXPORTER: "none" });
    expect(metricsOff.otlpMetrics).toBeUndefined();
    expect(metricsOff.otlp?.tracesUrl).toBe("http://127.0.0.1:4318/v1/traces");
    expect(telemetrySettings(config, { OTEL_TRACES_EXPORTER: "none" }).otlpMetrics).toBeDefined();
    const disabled = telemetrySettings(config, { OTEL_SDK_DISABLED: "true" });
    expect([disabled.otlp, disabled.otlpMetrics]).toEqual([undefined, undefined]);
  });

  test("OTLP headers parse as key=value pairs with URL-encoded values", () => {
    expect(parseHeaders("api-key=a%20b, x=1,broken")).toEqual({ "api-key": "a b", x: "1" });
  });

  test("describeSettings hides the DSN key and header values", () => {
    const text = JSON.stringify(
      describeSettings(telemetrySettings(config, { OTEL_EXPORTER_OTLP_HEADERS: "authorization=secret-token" })),
    );
    expect(text).not.toContain("abc123");
    expect(text).not.toContain("secret-token");
    expect(text).toContain("REDACTED@o1.ingest.example.test");
  });

  test("describeSettings redacts userinfo and secret query values in the OTLP URLs, keeping the rest", () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://user:s3cret@collector.test:4318/base?tenant=a&api_key=k3y" };
    const described = describeSettings(telemetrySettings(config, env)) as {
      otlp: { tracesUrl: string };
      otlpMetrics: { metricsUrl: string };
    };
    expect(described.otlp.tracesUrl).toBe(
      "http://REDACTED:REDACTED@collector.test:4318/base/v1/traces?tenant=a&api_key=REDACTED",
    );
    expect(described.otlpMetrics.metricsUrl).toBe(
      "http://REDACTED:REDACTED@collector.test:4318/base/v1/metrics?tenant=a&api_key=REDACTED",
    );
  });
});
