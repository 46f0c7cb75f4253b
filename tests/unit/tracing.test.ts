/**
 * The pure parts of tracing: W3C traceparent parsing and formatting, parent-based ratio sampling, ids, the OTLP/JSON
 * encoding, the OTEL_BSP_* limits, the batch exporter's bounded queue and its log-once failure handling, and the
 * proxy's traceparent replacement toward the upstream.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { context, ROOT_CONTEXT, SpanKind, TraceFlags, trace } from "@opentelemetry/api";
import type { ForwardContext } from "../../src/proxy/forward.ts";
import { replaceHeader } from "../../src/proxy/headers.ts";
import { createTracing } from "../../src/telemetry/otlp.ts";
import { BatchExporter, batchLimits, compressionOf, type FinishedSpan } from "../../src/telemetry/otlp-export.ts";
import { createEncoder, unixNano } from "../../src/telemetry/otlp-json.ts";
import { RequestSpans } from "../../src/telemetry/request-spans.ts";
import {
  formatTraceparent,
  isSampled,
  newSpanId,
  newTraceId,
  parseTraceparent,
  TraceRateLimit,
} from "../../src/telemetry/trace-context.ts";
import { GotunnelTracer } from "../../src/telemetry/tracer.ts";
import { traced } from "../../src/telemetry/tracing.ts";
import { otlpBody } from "../helpers/otlp-decode.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";

describe("traceparent", () => {
  test("a valid version 00 header gives the caller's ids and sampled flag", () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: false });
    // Other flag bits do not change `sampled`; surrounding whitespace (OWS) is allowed.
    expect(parseTraceparent(` 00-${TRACE}-${SPAN}-03 `)?.sampled).toBe(true);
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-02`)?.sampled).toBe(false);
  });

  test.each([
    ["missing", null],
    ["empty", ""],
    ["all-zero trace id", `00-${"0".repeat(32)}-${SPAN}-01`],
    ["all-zero span id", `00-${TRACE}-${"0".repeat(16)}-01`],
    ["uppercase hex", `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ["short trace id", `00-${TRACE.slice(1)}-${SPAN}-01`],
    ["version ff", `ff-${TRACE}-${SPAN}-01`],
    ["version 00 with a suffix", `00-${TRACE}-${SPAN}-01-extra`],
    ["bad flags", `00-${TRACE}-${SPAN}-0g`],
    ["garbage", "not a traceparent"],
  ])("%s is rejected", (_name, header) => {
    expect(parseTraceparent(header)).toBeUndefined();
  });

  test("a future version is read by its first four fields (§4.3)", () => {
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01`)?.traceId).toBe(TRACE);
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-01-what-the-future-holds`)?.spanId).toBe(SPAN);
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-01xyz`)).toBeUndefined();
  });

  test("formatting round-trips", () => {
    expect(formatTraceparent(TRACE, SPAN, true)).toBe(`00-${TRACE}-${SPAN}-01`);
    expect(parseTraceparent(formatTraceparent(TRACE, SPAN, false))).toEqual({
      traceId: TRACE,
      spanId: SPAN,
      sampled: false,
    });
  });

  test("ids are lowercase hex of the right length and differ", () => {
    const ids = new Set(Array.from({ length: 2000 }, () => newSpanId()));
    expect(ids.size).toBe(2000);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(newTraceId()).toMatch(/^[0-9a-f]{32}$/);
    expect(newTraceId()).not.toBe(newTraceId());
  });
});

describe("sampling", () => {
  const parent = (sampled: boolean) => ({ traceId: TRACE, spanId: SPAN, sampled });

  test("a caller's decision wins over the ratio, both ways", () => {
    expect(isSampled(parent(true), 0)).toBe(true);
    expect(isSampled(parent(false), 1)).toBe(false);
  });

  test("roots follow the ratio", () => {
    expect(isSampled(undefined, 1, () => 0.999)).toBe(true);
    expect(isSampled(undefined, 0, () => 0)).toBe(false);
    expect(isSampled(undefined, 0.25, () => 0.2)).toBe(true);
    expect(isSampled(undefined, 0.25, () => 0.3)).toBe(false);
    let sampled = 0;
    for (let i = 0; i < 10_000; i++) if (isSampled(undefined, 0.1)) sampled++;
    expect(sampled).toBeGreaterThan(800);
    expect(sampled).toBeLessThan(1200);
  });

  test("the cap: a second's budget at once, then tokens at the rate; never more than one second's worth saved", () => {
    const cap = new TraceRateLimit(4);
    const taken = (atMs: number, tries: number) => {
      let yes = 0;
      for (let i = 0; i < tries; i++) if (cap.take(atMs)) yes++;
      return yes;
    };
    expect(taken(1000, 10)).toBe(4);
    expect(cap.refused).toBe(6);
    // 4 a second is one token per 250 ms.
    expect(taken(1200, 3)).toBe(0);
    expect(taken(1250, 3)).toBe(1);
    expect(taken(1750, 5)).toBe(2);
    // An idle minute refills one second's worth, not sixty.
    expect(taken(61_750, 100)).toBe(4);
    // Below one a second, the one token a trace needs still fits: 0.5 a second is one trace every two seconds.
    const slow = new TraceRateLimit(0.5);
    expect([slow.take(0), slow.take(1000), slow.take(2000), slow.take(2500)]).toEqual([true, false, true, false]);
  });

  test("the proxy's hook: new traces within the cap, a caller's sampled trace always, one log line a minute", async () => {
    const logs: string[] = [];
    const tracing = createTracing(
      {
        tracesUrl: "http://127.0.0.1:1/v1/traces",
        headers: {},
        sampleRate: 1,
        tracesPerSecond: 2,
        protocol: "http/protobuf",
        protocolNote: undefined,
        samplerNote: undefined,
      },
      { environment: "development", log: (_level, message) => logs.push(message), env: {} },
    );
    const request = (atMs: number, incoming: string | null = null) => {
      const ctx = { spanStartMs: atMs } as ForwardContext;
      tracing.requests.start(ctx, incoming);
      return ctx;
    };
    const roots = [0, 1, 2, 3, 4].map(() => request(5_000).traceparent !== undefined);
    expect(roots).toEqual([true, true, false, false, false]);
    const caller = request(5_000, formatTraceparent(TRACE, SPAN, true));
    expect(caller.traceparent).toStartWith(`00-${TRACE}-`);
    expect(caller.parentSpanId).toBe(SPAN);
    expect(request(5_000, formatTraceparent(TRACE, SPAN, false)).traceparent).toBeUndefined();
    expect(request(5_500).traceparent).toBeDefined();
    expect(request(5_600).traceparent).toBeUndefined();
    expect(logs.filter((line) => line.includes("new traces a second"))).toEqual([
      "tracing: more than 2 new traces a second; tracing 2 a second (observability.tracesPerSecond, or GOTUNNEL_TRACES_PER_SECOND=unlimited)",
    ]);
    request(70_000);
    request(70_000);
    request(70_000);
    expect(logs.filter((line) => line.includes("new traces a second"))).toHaveLength(2);
    await tracing.shutdown();
  });

  test("the API tracer: children of an unsampled span are not recorded but keep the trace", () => {
    const finished: FinishedSpan[] = [];
    const tracer = new GotunnelTracer(1, (span) => finished.push(span));
    const unsampled = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE, spanId: SPAN, traceFlags: TraceFlags.NONE });
    const child = tracer.startSpan("child", {}, unsampled);
    expect(child.isRecording()).toBe(false);
    expect(child.spanContext().traceId).toBe(TRACE);
    child.end();
    const sampled = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: TRACE,
      spanId: SPAN,
      traceFlags: TraceFlags.SAMPLED,
    });
    tracer.startSpan("server", { kind: SpanKind.SERVER, attributes: { n: 1 } }, sampled).end();
    expect(finished).toHaveLength(1);
    expect(finished[0]).toMatchObject({ traceId: TRACE, parentSpanId: SPAN, kind: 2, name: "server" });
    expect(finished[0]?.attributes).toEqual({ n: 1 });
    expect(new GotunnelTracer(0, (span) => finished.push(span)).startSpan("root").isRecording()).toBe(false);
  });
});

function span(overrides: Partial<FinishedSpan> = {}): FinishedSpan {
  return {
    traceId: TRACE,
    spanId: SPAN,
    parentSpanId: undefined,
    name: "GET app.local",
    kind: 2,
    startMs: 1_700_000_000_000.5,
    endMs: 1_700_000_000_002.25,
    attributes: { "url.path": "/x", "http.response.status_code": 200, ratio: 0.5, ok: true, unset: undefined },
    statusCode: 0,
    statusMessage: undefined,
    ...overrides,
  };
}

const NO_REQUESTS = new RequestSpans(1, 1, () => {});

describe("OTLP/JSON", () => {
  test("spec field names, hex ids, nanosecond strings, typed attribute values", () => {
    const encode = createEncoder({ "service.name": "gotunnel" }, { name: "gotunnel", version: "1.0.0" });
    const body = JSON.parse(new TextDecoder().decode(encode(NO_REQUESTS, 0, [span({ parentSpanId: "1".repeat(16) })])));
    const [resourceSpans] = body.resourceSpans;
    expect(resourceSpans.resource.attributes).toEqual([{ key: "service.name", value: { stringValue: "gotunnel" } }]);
    expect(resourceSpans.scopeSpans[0].scope).toEqual({ name: "gotunnel", version: "1.0.0" });
    expect(resourceSpans.scopeSpans[0].spans[0]).toEqual({
      traceId: TRACE,
      spanId: SPAN,
      parentSpanId: "1".repeat(16),
      name: "GET app.local",
      kind: 2,
      startTimeUnixNano: "1700000000000500000",
      endTimeUnixNano: "1700000000002250000",
      attributes: [
        { key: "url.path", value: { stringValue: "/x" } },
        { key: "http.response.status_code", value: { intValue: "200" } },
        { key: "ratio", value: { doubleValue: 0.5 } },
        { key: "ok", value: { boolValue: true } },
      ],
      status: { code: 0 },
    });
  });

  test("strings that need escaping or UTF-8 stay valid JSON", () => {
    const encode = createEncoder({}, { name: "gotunnel", version: "0" });
    const tricky = 'a "quoted"\\ path\n/é/😀';
    const long = "/x".repeat(200_000);
    const decode = (spans: FinishedSpan[]) => JSON.parse(new TextDecoder().decode(encode(NO_REQUESTS, 0, spans)));
    const first = decode([span({ name: tricky, statusCode: 2, statusMessage: "bad\u0001", attributes: { p: long } })]);
    const parsed = first.resourceSpans[0].scopeSpans[0].spans[0];
    expect(parsed.name).toBe(tricky);
    expect(parsed.status).toEqual({ code: 2, message: "bad\u0001" });
    expect(parsed.attributes[0].value.stringValue).toBe(long);
    expect(decode([span(), span()]).resourceSpans[0].scopeSpans[0].spans).toHaveLength(2);
  });

  test("unixNano keeps microseconds exactly", () => {
    expect(unixNano(1_700_000_000_123.456)).toBe("1700000000123456000");
    expect(unixNano(0)).toBe("0");
    expect(unixNano(1_700_000_000_000 + 0.0004)).toBe("1700000000000000000");
    expect(unixNano(1_700_000_000_000 + 0.9996)).toBe("1700000000001000000");
    expect(unixNano(1_700_000_000_000.007)).toBe("1700000000000007000");
  });

  test("OTEL_BSP_* are honoured, bad values fall back to the spec's defaults", () => {
    expect(batchLimits({})).toEqual({
      scheduleDelayMs: 5000,
      exportTimeoutMs: 30000,
      maxQueueSize: 2048,
      maxBatchSize: 512,
    });
    const limits = batchLimits({
      OTEL_BSP_SCHEDULE_DELAY: "100",
      OTEL_BSP_MAX_QUEUE_SIZE: "10",
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "50",
      OTEL_BSP_EXPORT_TIMEOUT: "nope",
    });
    expect(limits).toEqual({ scheduleDelayMs: 100, exportTimeoutMs: 30000, maxQueueSize: 10, maxBatchSize: 10 });
  });
});

describe("batch exporter", () => {
  const servers: { stop(force: boolean): void }[] = [];
  afterEach(() => {
    for (const server of servers.splice(0)) server.stop(true);
  });

  function receiver(status = 200) {
    const batches: number[] = [];
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        const raw = new Uint8Array(await req.arrayBuffer());
        const body = otlpBody(req, raw) as { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] };
        batches.push(body.resourceSpans[0]!.scopeSpans[0]!.spans.length);
        return new Response(null, { status });
      },
    });
    servers.push(server);
    return { url: `http://127.0.0.1:${server.port}/v1/traces`, batches };
  }

  function exporter(url: string, env: Record<string, string>, logs: string[]) {
    return new BatchExporter({
      url,
      headers: { authorization: "Bearer x" },
      resource: { "service.name": "gotunnel" },
      scope: { name: "gotunnel", version: "0" },
      log: (level, message) => logs.push(`${level}: ${message}`),
      env,
    });
  }

  test("sends full batches at once, the rest on shutdown; a full queue drops and says so once", async () => {
    const { url, batches } = receiver();
    const logs: string[] = [];
    const env = { OTEL_BSP_MAX_QUEUE_SIZE: "5", OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "2", OTEL_BSP_SCHEDULE_DELAY: "60000" };
    const batcher = exporter(url, env, logs);
    for (let i = 0; i < 8; i++) batcher.push(span());
    await batcher.shutdown();
    // 2 went at once (a full batch), 5 filled the queue meanwhile, 1 was dropped.
    expect(batches.reduce((sum, n) => sum + n, 0)).toBe(7);
    expect(batches.every((n) => n <= 2)).toBe(true);
    expect(batcher.dropped).toBe(1);
    expect(logs.filter((line) => line.includes("queue full ("))).toHaveLength(1);
  });

  test("gzip only when OTEL_EXPORTER_OTLP_COMPRESSION=gzip", () => {
    expect(compressionOf({})).toBe("none");
    expect(compressionOf({ OTEL_EXPORTER_OTLP_COMPRESSION: "gzip" })).toBe("gzip");
    expect(
      compressionOf({ OTEL_EXPORTER_OTLP_COMPRESSION: "none", OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: "gzip" }),
    ).toBe("gzip");
  });

  test("a failing collector is logged once per outage and never throws", async () => {
    const { url } = receiver(503);
    const logs: string[] = [];
    const batcher = exporter(url, { OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "1", OTEL_BSP_SCHEDULE_DELAY: "60000" }, logs);
    for (let i = 0; i < 3; i++) batcher.push(span());
    await batcher.shutdown();
    expect(logs).toEqual([expect.stringContaining("answered 503")]);
    const refused = exporter("http://127.0.0.1:1/v1/traces", { OTEL_BSP_SCHEDULE_DELAY: "60000" }, logs);
    refused.push(span());
    await refused.shutdown();
    expect(logs).toHaveLength(2);
  });

  test("daemon spans nest through the API's active context once tracing is on", async () => {
    const { url, batches } = receiver();
    const logs: string[] = [];
    const tracing = createTracing(
      {
        tracesUrl: url,
        headers: {},
        sampleRate: 1,
        tracesPerSecond: Number.POSITIVE_INFINITY,
        protocol: "http/json",
        protocolNote: undefined,
        samplerNote: undefined,
      },
      { environment: "development", log: (_level, message) => logs.push(message), env: {} },
    );
    let inner: string | undefined;
    let outer: string | undefined;
    await traced("outer", {}, async () => {
      outer = trace.getActiveSpan()?.spanContext().spanId;
      await Bun.sleep(1);
      await traced("inner", {}, async () => {
        inner = trace.getSpan(context.active())?.spanContext().spanId;
      });
    });
    expect(outer).toMatch(/^[0-9a-f]{16}$/);
    expect(inner).not.toBe(outer);
    await tracing.shutdown();
    expect(batches).toEqual([2]);
  });
});

describe("traceparent toward the upstream", () => {
  test("replaceHeader replaces the first and drops duplicates, or appends", () => {
    const pairs: [string, string][] = [
      ["traceparent", "a"],
      ["x", "1"],
      ["traceparent", "b"],
    ];
    replaceHeader(pairs, "traceparent", "ours");
    expect(pairs).toEqual([
      ["traceparent", "ours"],
      ["x", "1"],
    ]);
    const none: [string, string][] = [["x", "1"]];
    replaceHeader(none, "traceparent", "ours");
    expect(none).toEqual([
      ["x", "1"],
      ["traceparent", "ours"],
    ]);
  });
});
