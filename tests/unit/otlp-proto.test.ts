/**
 * OTLP/HTTP protobuf, the default encoding: gotunnel's encoder against the official JavaScript serializer
 * (@opentelemetry/otlp-transformer, a dev dependency) for the same spans, both read by the test's own decoder;
 * against the JSON encoder; and the wire writer's edge cases (64-bit times, long and nested messages, UTF-8).
 */
import { describe, expect, test } from "bun:test";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import type { ForwardContext } from "../../src/proxy/forward.ts";
import type { AttributeValue, FinishedSpan } from "../../src/telemetry/otlp-export.ts";
import { createEncoder } from "../../src/telemetry/otlp-json.ts";
import { createProtoEncoder } from "../../src/telemetry/otlp-proto.ts";
import { ProtoWriter } from "../../src/telemetry/proto-writer.ts";
import { RequestSpans } from "../../src/telemetry/request-spans.ts";
import { formatTraceparent, newTraceparent, spanIdOf, traceIdOf } from "../../src/telemetry/trace-context.ts";
import { decodeTraceRequest, withoutDefaults } from "../helpers/otlp-decode.ts";

const RESOURCE = { "service.name": "gotunnel", "service.version": "1.2.3", "deployment.environment.name": "staging" };
const SCOPE = { name: "gotunnel", version: "1.2.3" };
const PARENT = "00f067aa0ba902b7";

interface RequestCase {
  method: string;
  host: string;
  path: string;
  proto: "http" | "https";
  port: number;
  route: string;
  status: number;
  error?: unknown;
  parent?: boolean;
}

const CASES: RequestCase[] = [
  {
    method: "GET",
    host: "myapp.local:8443",
    path: "/a?token=secret",
    proto: "https",
    port: 8443,
    route: "myapp.local",
    status: 200,
  },
  {
    method: "POST",
    host: "myapp.local",
    path: "/upload",
    proto: "https",
    port: 443,
    route: "myapp.local",
    status: 404,
    parent: true,
  },
  { method: "PURGE", host: "api.test:8080", path: "/", proto: "http", port: 8080, route: "api.test", status: 200 },
  {
    method: "GET",
    host: "[::1]:8443",
    path: "/é/ü",
    proto: "https",
    port: 8443,
    route: "myapp.local",
    status: 502,
    error: Object.assign(new Error("refused"), { kind: "refused" }),
  },
  {
    method: "GET",
    host: "myapp.local:8443",
    path: `/${"x".repeat(300)}`,
    proto: "https",
    port: 8443,
    route: "myapp.local",
    status: 503,
  },
];

/** The cases recorded the way the proxy records them; returns the ring and each span's times and ids. */
function recorded(cases: RequestCase[]) {
  const spans = new RequestSpans(64, 1000, () => {});
  const made = cases.map((c, i) => {
    const traceparent = c.parent
      ? formatTraceparent(traceIdOf(newTraceparent()), spanIdOf(newTraceparent()), true)
      : newTraceparent();
    const ctx: ForwardContext = {
      host: c.host,
      clientIp: "127.0.0.1",
      proto: c.proto,
      port: c.port,
      via: "1.1 gotunnel",
      clientClose: false,
      path: c.path,
      traceparent,
      parentSpanId: c.parent ? PARENT : undefined,
      spanStartMs: 1_700_000_000_000 + i + 0.125,
    };
    spans.record(ctx, c.method, c.route, c.status, c.error);
    // A fixed end (record() stamps the clock): both writers then see the same exactly representable time.
    const endMs = 1_700_000_000_100 + i + 0.5;
    spans.endMs[spans.row(i)] = endMs;
    return { ctx, endMs };
  });
  return { spans, made };
}

const KNOWN = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);

/** What the HTTP semantic conventions ask of the same request, as an SDK ReadableSpan would carry it. */
function readable(c: RequestCase, ctx: ForwardContext, endMs: number) {
  const known = KNOWN.has(c.method);
  const attributes: Record<string, AttributeValue> = { "http.request.method": known ? c.method : "_OTHER" };
  if (!known) attributes["http.request.method_original"] = c.method;
  Object.assign(attributes, {
    "url.scheme": c.proto,
    "url.path": c.path.split("?")[0],
    "server.address": c.host.startsWith("[") ? c.host.slice(1, c.host.indexOf("]")) : c.host.split(":")[0],
    "server.port": c.port,
    "gotunnel.route": c.route,
    "http.response.status_code": c.status,
  });
  if (c.error) attributes["error.type"] = "refused";
  else if (c.status >= 500) attributes["error.type"] = String(c.status);
  return sdkSpan({
    traceId: traceIdOf(ctx.traceparent as string),
    spanId: spanIdOf(ctx.traceparent as string),
    parentSpanId: ctx.parentSpanId,
    name: `${known ? c.method : "HTTP"} ${c.route}`,
    kind: 2,
    startMs: ctx.spanStartMs as number,
    endMs,
    attributes,
    statusCode: c.status >= 500 ? 2 : 0,
    statusMessage: undefined,
  });
}

const resource = { attributes: RESOURCE, droppedAttributesCount: 0 };

/** A FinishedSpan as the SDK's ReadableSpan, the official serializer's input (times as [seconds, nanoseconds]). */
function sdkSpan(span: FinishedSpan) {
  const hr = (ms: number): [number, number] => {
    const micros = Math.round(ms * 1000);
    return [Math.floor(micros / 1e6), (micros % 1e6) * 1000];
  };
  const attributes: Record<string, AttributeValue> = {};
  for (const [key, value] of Object.entries(span.attributes)) if (value !== undefined) attributes[key] = value;
  return {
    name: span.name,
    kind: span.kind - 1,
    spanContext: () => ({ traceId: span.traceId, spanId: span.spanId, traceFlags: 1 }),
    parentSpanContext: span.parentSpanId
      ? { traceId: span.traceId, spanId: span.parentSpanId, traceFlags: 1 }
      : undefined,
    startTime: hr(span.startMs),
    endTime: hr(span.endMs),
    status: { code: span.statusCode, message: span.statusMessage },
    attributes,
    links: [],
    events: [],
    duration: hr(span.endMs - span.startMs),
    ended: true,
    resource,
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** One decoded request, comparable across writers: defaults dropped, attributes by key, the optional flags off. */
function normalized(request: unknown): unknown {
  const clean = withoutDefaults(request) as {
    resourceSpans: {
      resource: { attributes: { key: string }[] };
      scopeSpans: { spans: Record<string, unknown>[] }[];
    }[];
  };
  const byKey = (a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key);
  for (const resourceSpans of clean.resourceSpans) {
    resourceSpans.resource.attributes.sort(byKey);
    for (const scopeSpans of resourceSpans.scopeSpans) {
      for (const span of scopeSpans.spans) {
        // Span.flags (W3C flags and is-remote bits) is optional; gotunnel does not send it.
        delete span.flags;
        (span.attributes as { key: string }[] | undefined)?.sort(byKey);
      }
    }
  }
  return clean;
}

const DAEMON_SPAN: FinishedSpan = {
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  spanId: "00f067aa0ba902b7",
  parentSpanId: "1122334455667788",
  name: "certificate issue",
  kind: 1,
  startMs: 1_700_000_000_000.001,
  endMs: 1_700_000_000_123.999,
  attributes: { domain: "myapp.local", count: 3, ratio: 0.25, negative: -7, ok: false, none: undefined },
  statusCode: 2,
  statusMessage: "it broke: ünïcode",
};

describe("OTLP protobuf traces", () => {
  test("request and daemon spans decode to what the official serializer writes for the same spans", () => {
    const { spans, made } = recorded(CASES);
    const ours = createProtoEncoder(RESOURCE, SCOPE)(spans, CASES.length, [DAEMON_SPAN]);
    const official = ProtobufTraceSerializer.serializeRequest([
      ...CASES.map((c, i) => readable(c, made[i]!.ctx, made[i]!.endMs)),
      sdkSpan(DAEMON_SPAN),
    ] as never) as Uint8Array;
    const decoded = normalized(decodeTraceRequest(ours));
    expect(decoded).toEqual(normalized(decodeTraceRequest(official)));
    // And what it says, spelled out for one span.
    const first = (decoded as { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] }).resourceSpans[0]!
      .scopeSpans[0]!.spans[0];
    expect(first).toMatchObject({ kind: 2, name: "GET myapp.local", startTimeUnixNano: "1700000000000125000" });
  });

  test("protobuf and JSON bodies carry the same request", () => {
    const { spans } = recorded(CASES);
    const proto = createProtoEncoder(RESOURCE, SCOPE)(spans, CASES.length, [DAEMON_SPAN]).slice();
    const json = JSON.parse(
      new TextDecoder().decode(createEncoder(RESOURCE, SCOPE)(spans, CASES.length, [DAEMON_SPAN])),
    );
    expect(normalized(decodeTraceRequest(proto))).toEqual(normalized(json));
  });

  test("a batch reads rows from the ring's head, across its wrap-around", () => {
    const spans = new RequestSpans(4, 1000, () => {});
    const ctx = (path: string): ForwardContext => ({
      host: "a.test",
      clientIp: "127.0.0.1",
      proto: "http",
      port: 80,
      via: "v",
      clientClose: false,
      path,
      traceparent: newTraceparent(),
      parentSpanId: undefined,
      spanStartMs: 1,
    });
    const encode = createProtoEncoder(RESOURCE, SCOPE);
    const paths = (n: number) => {
      const body = decodeTraceRequest(encode(spans, n, [])) as {
        resourceSpans: {
          scopeSpans: { spans: { attributes: { key: string; value: { stringValue?: string } }[] }[] }[];
        }[];
      };
      const list = body.resourceSpans[0]!.scopeSpans[0]!.spans;
      return list.map((span) => span.attributes.find((a) => a.key === "url.path")?.value.stringValue);
    };
    for (const path of ["/1", "/2", "/3"]) spans.record(ctx(path), "GET", "a.test", 200, undefined);
    expect(paths(2)).toEqual(["/1", "/2"]);
    spans.release(2);
    for (const path of ["/4", "/5", "/6"]) spans.record(ctx(path), "GET", "a.test", 200, undefined);
    // Four slots: /3 to /6 fit; a fifth is dropped and counted.
    spans.record(ctx("/7"), "GET", "a.test", 200, undefined);
    expect(spans.dropped).toBe(1);
    expect(paths(4)).toEqual(["/3", "/4", "/5", "/6"]);
  });
});

describe("protobuf writer", () => {
  const readFixed64 = (bytes: Uint8Array, at: number) =>
    new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(at, true);

  test("times are exact nanoseconds (microsecond precision) across the 64-bit range that matters", () => {
    for (const ms of [0, 1, 0.001, 1_700_000_000_000.5, 1_700_000_000_123.456, 4_102_444_800_000.999, 2 ** 42 - 1]) {
      const writer = new ProtoWriter();
      writer.unixNano(7, ms);
      const micros = BigInt(Math.round(ms * 1000));
      expect(readFixed64(writer.bytes(), 1)).toBe(micros * 1000n);
    }
  });

  test("lengths are minimal varints whatever the guess, for nested and long messages", () => {
    for (const size of [0, 127, 128, 300, 16_383, 16_384, 70_000]) {
      for (const guess of [1, 2]) {
        const writer = new ProtoWriter();
        writer.begin(1, guess);
        writer.begin(2);
        writer.string(1, "y".repeat(size));
        writer.end();
        writer.end();
        const bytes = writer.bytes();
        let at = 1;
        let length = 0;
        for (let shift = 0; ; shift += 7) {
          const byte = bytes[at++] as number;
          length += (byte & 127) * 2 ** shift;
          if (byte < 128) break;
        }
        // Minimal: no trailing 0x80 groups, and the outer length is exactly what follows.
        expect(bytes[at - 1]).not.toBe(128);
        expect(length).toBe(bytes.length - at);
      }
    }
  });

  test("negative int64 takes ten bytes, strings keep their UTF-8", () => {
    const writer = new ProtoWriter();
    writer.begin(9);
    writer.string(1, "k");
    writer.begin(2);
    writer.tag(3, 0);
    writer.int64(-7);
    writer.end();
    writer.end();
    writer.begin(9);
    writer.string(1, "ünï😀");
    writer.begin(2);
    writer.string(1, "é");
    writer.end();
    writer.end();
    const span = decodeTraceRequest(
      (() => {
        const outer = new ProtoWriter();
        outer.begin(1);
        outer.begin(2);
        outer.begin(2, 2);
        outer.raw(writer.bytes());
        outer.end();
        outer.end();
        outer.end();
        return outer.bytes();
      })(),
    ) as { resourceSpans: { scopeSpans: { spans: { attributes: unknown[] }[] }[] }[] };
    expect(span.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.attributes).toEqual([
      { key: "k", value: { intValue: "-7" } },
      { key: "ünï😀", value: { stringValue: "é" } },
    ]);
  });
});
