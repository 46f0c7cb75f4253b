/**
 * OTLP/HTTP binary protobuf (`application/x-protobuf`, the spec's default protocol) for traces: an
 * ExportTraceServiceRequest with one ResourceSpans and one ScopeSpans
 * (https://github.com/open-telemetry/opentelemetry-proto, opentelemetry/proto/trace/v1/trace.proto). Request spans
 * are encoded straight from their columns (request-spans.ts): ids, times and path per span, and the fields a route's
 * spans share copied from bytes built once;
 * a test decodes the output next to the official JavaScript serializer's for the same spans.
 */
import type { AttributeValue, FinishedSpan, SpanEncoder } from "./otlp-export.ts";
import { ProtoWriter, prebuilt, VARINT } from "./proto-writer.ts";
import { ConstantsCache, type RequestSpans, type SpanConstants, statusCache, withoutQuery } from "./request-spans.ts";
import { SPAN_ID_AT, TRACE_ID_AT } from "./trace-context.ts";

/** Field numbers, from the .proto files. */
const REQUEST_RESOURCE_SPANS = 1;
const RESOURCE_SPANS_RESOURCE = 1;
const RESOURCE_SPANS_SCOPE_SPANS = 2;
const RESOURCE_ATTRIBUTES = 1;
const SCOPE_SPANS_SCOPE = 1;
const SCOPE_SPANS_SPANS = 2;
const SCOPE_NAME = 1;
const SCOPE_VERSION = 2;
const SPAN_TRACE_ID = 1;
const SPAN_SPAN_ID = 2;
const SPAN_PARENT_SPAN_ID = 4;
const SPAN_NAME = 5;
const SPAN_KIND = 6;
const SPAN_START = 7;
const SPAN_END = 8;
const SPAN_ATTRIBUTES = 9;
const SPAN_STATUS = 15;
const STATUS_MESSAGE = 2;
const STATUS_CODE = 3;
const KEY_VALUE_KEY = 1;
const KEY_VALUE_VALUE = 2;
const ANY_STRING = 1;
const ANY_BOOL = 2;
const ANY_INT = 3;
const ANY_DOUBLE = 4;

/** OTLP SpanKind SERVER; StatusCode ERROR. */
const KIND_SERVER = 2;
const STATUS_ERROR = 2;

/** `key` field of a KeyValue, ready to copy. */
function keyField(key: string): Uint8Array {
  return prebuilt((writer) => writer.string(KEY_VALUE_KEY, key));
}

const URL_PATH_KEY = keyField("url.path");
const ERROR_TYPE_KEY = keyField("error.type");

/**
 * Span fields shared by every request of one route, listener, Host and method: name, kind and five attributes.
 * Protobuf does not care about field order, so they go in one block, after the ids and times.
 */
function constantFields(constants: SpanConstants): Uint8Array {
  return prebuilt((writer) => {
    writer.string(SPAN_NAME, constants.name);
    writer.uint(SPAN_KIND, KIND_SERVER);
    attributes(writer, SPAN_ATTRIBUTES, {
      "http.request.method": constants.method,
      "http.request.method_original": constants.methodOriginal,
      "url.scheme": constants.scheme,
      "server.address": constants.address,
      "server.port": constants.port,
      "gotunnel.route": constants.route,
    });
  });
}

/** http.response.status_code and the span's Status: a 5xx is a server error (semconv), a 4xx is the client's. */
function statusFields(status: number): Uint8Array {
  return prebuilt((writer) => {
    attributes(writer, SPAN_ATTRIBUTES, { "http.response.status_code": status });
    writer.begin(SPAN_STATUS);
    if (status >= 500) writer.uint(STATUS_CODE, STATUS_ERROR);
    writer.end();
  });
}

/** The encoder of one exporter: resource and scope are encoded once; the returned bytes are reused by the next call. */
export function createProtoEncoder(
  resource: Record<string, AttributeValue>,
  scope: { name: string; version: string },
): SpanEncoder {
  const writer = new ProtoWriter();
  const constants = new ConstantsCache(constantFields);
  const status = statusCache(statusFields);
  const head = prebuilt((w) => {
    w.begin(RESOURCE_SPANS_RESOURCE);
    attributes(w, RESOURCE_ATTRIBUTES, resource);
    w.end();
  });
  const scopeBytes = prebuilt((w) => {
    w.begin(SCOPE_SPANS_SCOPE);
    w.string(SCOPE_NAME, scope.name);
    w.string(SCOPE_VERSION, scope.version);
    w.end();
  });
  return (requests, n, others) => {
    writer.reset();
    writer.begin(REQUEST_RESOURCE_SPANS);
    writer.raw(head);
    writer.begin(RESOURCE_SPANS_SCOPE_SPANS);
    writer.raw(scopeBytes);
    for (let k = 0; k < n; k++) requestSpan(writer, requests, requests.row(k), constants, status);
    for (const span of others) finishedSpan(writer, span);
    writer.end();
    writer.end();
    return writer.bytes();
  };
}

/** HTTP server semantic conventions (https://opentelemetry.io/docs/specs/semconv/http/http-spans/). */
function requestSpan(
  writer: ProtoWriter,
  spans: RequestSpans,
  at: number,
  constants: ConstantsCache,
  status: (status: number) => Uint8Array,
): void {
  const traceparent = spans.traceparent[at] as string;
  // A request span is 200 to 300 bytes: its length takes two bytes.
  writer.begin(SCOPE_SPANS_SPANS, 2);
  writer.hexBytes(SPAN_TRACE_ID, traceparent, TRACE_ID_AT, 16);
  writer.hexBytes(SPAN_SPAN_ID, traceparent, SPAN_ID_AT, 8);
  const parent = spans.parentSpanId[at];
  if (parent !== undefined) writer.hexBytes(SPAN_PARENT_SPAN_ID, parent, 0, 8);
  writer.unixNano(SPAN_START, spans.startMs[at] as number);
  writer.unixNano(SPAN_END, spans.endMs[at] as number);
  writer.raw(constants.bytes(spans, at));
  stringAttribute(writer, URL_PATH_KEY, withoutQuery(spans.path[at] as string));
  writer.raw(status(spans.status[at] as number));
  const errorType = spans.errorType[at];
  if (errorType !== undefined) stringAttribute(writer, ERROR_TYPE_KEY, errorType);
  writer.end();
}

/** A KeyValue whose value is a string, with its key field prebuilt. */
function stringAttribute(writer: ProtoWriter, key: Uint8Array, value: string): void {
  writer.begin(SPAN_ATTRIBUTES);
  writer.raw(key);
  writer.begin(KEY_VALUE_VALUE);
  writer.string(ANY_STRING, value);
  writer.end();
  writer.end();
}

/** A daemon-operation span (tracer.ts). */
function finishedSpan(writer: ProtoWriter, span: FinishedSpan): void {
  writer.begin(SCOPE_SPANS_SPANS);
  writer.hexBytes(SPAN_TRACE_ID, span.traceId, 0, 16);
  writer.hexBytes(SPAN_SPAN_ID, span.spanId, 0, 8);
  if (span.parentSpanId) writer.hexBytes(SPAN_PARENT_SPAN_ID, span.parentSpanId, 0, 8);
  writer.string(SPAN_NAME, span.name);
  writer.uint(SPAN_KIND, span.kind);
  writer.unixNano(SPAN_START, span.startMs);
  writer.unixNano(SPAN_END, span.endMs);
  attributes(writer, SPAN_ATTRIBUTES, span.attributes);
  writer.begin(SPAN_STATUS);
  if (span.statusMessage) writer.string(STATUS_MESSAGE, span.statusMessage);
  if (span.statusCode !== 0) writer.uint(STATUS_CODE, span.statusCode);
  writer.end();
  writer.end();
}

/** Repeated KeyValue in `field`, skipping undefined values. */
function attributes(writer: ProtoWriter, field: number, values: Record<string, AttributeValue | undefined>): void {
  for (const key in values) {
    const value = values[key];
    if (value === undefined) continue;
    writer.begin(field);
    writer.string(KEY_VALUE_KEY, key);
    writer.begin(KEY_VALUE_VALUE);
    if (typeof value === "string") writer.string(ANY_STRING, value);
    else if (typeof value === "boolean") writer.uint(ANY_BOOL, value ? 1 : 0);
    else if (Number.isSafeInteger(value)) {
      writer.tag(ANY_INT, VARINT);
      writer.int64(value);
    } else writer.double(ANY_DOUBLE, value);
    writer.end();
    writer.end();
  }
}
