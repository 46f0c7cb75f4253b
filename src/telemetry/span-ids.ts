/**
 * The active span's ids for log lines. Through `@opentelemetry/api` alone: with no tracer registered the active span
 * is a no-op whose context is invalid, so lines carry ids exactly when tracing is on and a span is current.
 */
import { isSpanContextValid, trace } from "@opentelemetry/api";

export function activeSpanIds(): { traceId: string; spanId: string } | undefined {
  const context = trace.getActiveSpan()?.spanContext();
  return context && isSpanContextValid(context) ? { traceId: context.traceId, spanId: context.spanId } : undefined;
}
