/**
 * gotunnel's own implementation of the @opentelemetry/api Tracer and Span, recording into otlp-export.ts. We do not
 * use @opentelemetry/sdk-trace-base: the proxy needs one server span per request at near-zero cost, and the SDK's
 * general machinery (span processors, resource merging, per-span attribute limits, hrtime tuples) is more than that
 * costs; everything here exists for that one job plus a handful of daemon-operation spans. Loaded with
 * otlp-export.ts only when an endpoint is configured (tracing.ts).
 */
import {
  type Context,
  context,
  type Span,
  type SpanAttributes,
  type SpanAttributeValue,
  type SpanContext,
  SpanKind,
  type SpanOptions,
  type SpanStatus,
  SpanStatusCode,
  type TimeInput,
  TraceFlags,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import type { AttributeValue, FinishedSpan } from "./otlp-export.ts";
import { nowMs } from "./request-spans.ts";
import { isSampled, newSpanId, newTraceId } from "./trace-context.ts";

/** A sampled span; ended, it goes to `sink` once. Implements the API's Span so `trace.*` helpers accept it. */
export class RecordingSpan implements Span, FinishedSpan {
  parentSpanId: string | undefined;
  endMs = 0;
  statusCode: number = SpanStatusCode.UNSET;
  statusMessage: string | undefined;
  private ended = false;

  constructor(
    readonly traceId: string,
    readonly spanId: string,
    parentSpanId: string | undefined,
    public name: string,
    /** OTLP's numbering: the API's SpanKind + 1. */
    readonly kind: number,
    readonly attributes: Record<string, AttributeValue | undefined>,
    private readonly sink: (span: FinishedSpan) => void,
    readonly startMs: number = nowMs(),
  ) {
    this.parentSpanId = parentSpanId;
  }

  spanContext(): SpanContext {
    return { traceId: this.traceId, spanId: this.spanId, traceFlags: TraceFlags.SAMPLED };
  }

  setAttribute(key: string, value: SpanAttributeValue): this {
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      this.attributes[key] = value;
    }
    return this;
  }

  setAttributes(attributes: SpanAttributes): this {
    for (const key in attributes) {
      const value = attributes[key];
      if (value !== undefined) this.setAttribute(key, value);
    }
    return this;
  }

  /** Events and links are not recorded: nothing in gotunnel emits them. */
  addEvent(): this {
    return this;
  }

  addLink(): this {
    return this;
  }

  addLinks(): this {
    return this;
  }

  setStatus(status: SpanStatus): this {
    this.statusCode = status.code;
    this.statusMessage = status.message;
    return this;
  }

  updateName(name: string): this {
    this.name = name;
    return this;
  }

  end(endTime?: TimeInput): void {
    if (this.ended) return;
    this.ended = true;
    this.endMs = typeof endTime === "number" ? endTime : nowMs();
    this.sink(this);
  }

  isRecording(): boolean {
    return !this.ended;
  }

  /** The semconv `exception` event is not recorded; the type goes on `error.type`, as the HTTP conventions do. */
  recordException(exception: unknown): void {
    const name = (exception as { name?: unknown } | null)?.name;
    this.attributes["error.type"] = typeof name === "string" ? name : "Error";
  }
}

/** Parent-based sampling with `ratio` for roots; an unsampled span still carries the trace on (as the API's). */
export class GotunnelTracer implements Tracer {
  constructor(
    private readonly ratio: number,
    private readonly sink: (span: FinishedSpan) => void,
  ) {}

  startSpan(name: string, options: SpanOptions = {}, ctx: Context = context.active()): Span {
    const parent = options.root ? undefined : trace.getSpanContext(ctx);
    const remote = parent && trace.isSpanContextValid(parent) ? parent : undefined;
    const sampledParent = remote && {
      traceId: remote.traceId,
      spanId: remote.spanId,
      sampled: (remote.traceFlags & TraceFlags.SAMPLED) !== 0,
    };
    const traceId = remote?.traceId ?? newTraceId();
    if (!isSampled(sampledParent, this.ratio)) {
      return trace.wrapSpanContext({ traceId, spanId: newSpanId(), traceFlags: TraceFlags.NONE });
    }
    const kind = (options.kind ?? SpanKind.INTERNAL) + 1;
    const startMs = typeof options.startTime === "number" ? options.startTime : nowMs();
    const span = new RecordingSpan(traceId, newSpanId(), remote?.spanId, name, kind, {}, this.sink, startMs);
    if (options.attributes) span.setAttributes(options.attributes);
    return span;
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...rest: unknown[]): ReturnType<F> {
    const fn = rest.pop() as F;
    const [options, ctx = context.active()] = rest as [SpanOptions | undefined, Context | undefined];
    const span = this.startSpan(name, options, ctx);
    return context.with(trace.setSpan(ctx, span), () => fn(span)) as ReturnType<F>;
  }
}
