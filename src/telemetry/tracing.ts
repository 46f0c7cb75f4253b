/**
 * Traces through @opentelemetry/api. Without an OTLP endpoint (telemetry/settings.ts) nothing is loaded: `traced`
 * runs on the API's built-in no-op tracer, and the proxy gets no request hook at all, so its request path does no
 * tracing work. With one, otlp.ts is imported (dynamically), registers gotunnel's tracer and exports in batches.
 */
import { type Span, type SpanAttributes, SpanStatusCode, trace } from "@opentelemetry/api";
import type { Environment } from "../config/schema.ts";
import type { RequestTracing } from "../proxy/forward.ts";
import type { TelemetrySettings } from "./settings.ts";

export interface Tracing {
  /** The proxy's hook: undefined from start() means not sampled. */
  requests: RequestTracing;
  /** Daemon shutdown: sends the spans still queued (bounded by OTEL_BSP_EXPORT_TIMEOUT). */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  environment: Environment;
  log(level: "info" | "warn", message: string): void;
  env?: Record<string, string | undefined>;
}

/** Undefined when no endpoint is configured (or exports are disabled): then nothing below is ever imported. */
export async function startTracing(
  settings: TelemetrySettings,
  log: TracingOptions["log"],
): Promise<Tracing | undefined> {
  for (const note of settings.endpointNotes) log("warn", `telemetry: ${note}`);
  if (!settings.otlp) return undefined;
  const { createTracing } = await import("./otlp.ts");
  const { tracesUrl, sampleRate, tracesPerSecond, protocol, protocolNote, samplerNote } = settings.otlp;
  if (protocolNote) log("warn", `tracing: ${protocolNote}`);
  if (samplerNote) log("warn", `tracing: ${samplerNote}`);
  const cap = Number.isFinite(tracesPerSecond) ? `, at most ${tracesPerSecond} new traces a second` : "";
  log("info", `tracing: exporting spans to ${tracesUrl} as ${protocol} (sample rate ${sampleRate}${cap})`);
  return createTracing(settings.otlp, { environment: settings.environment, log });
}

/**
 * Runs `work` inside an INTERNAL span named `name` (a child of the active span, if any); a rejection marks the span
 * as an error and is rethrown. `work` gets the span, to add what it learns (a no-op span when tracing is off, which
 * accepts everything). Costs one no-op span object when tracing is off.
 */
export function traced<T>(name: string, attributes: SpanAttributes, work: (span: Span) => Promise<T>): Promise<T> {
  return trace.getTracer("gotunnel").startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}
