/**
 * Tracing switched on: registers gotunnel's tracer (tracer.ts) and an AsyncLocalStorage context manager with
 * @opentelemetry/api, and builds the proxy's per-request hook. Imported dynamically by tracing.ts, and only when
 * telemetry/settings.ts found an OTLP endpoint, so a daemon without one never loads any of this.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { type Context, type ContextManager, context, ROOT_CONTEXT, trace } from "@opentelemetry/api";
import { buildInfo } from "../core/build-info.ts";
import type { RequestTracing } from "../proxy/forward.ts";
import { type AttributeValue, BatchExporter, type FinishedSpan } from "./otlp-export.ts";
import { nowMs, type RequestSpans } from "./request-spans.ts";
import type { OtlpSettings } from "./settings.ts";
import {
  formatTraceparent,
  isSampled,
  newSpanId,
  newTraceparent,
  parseTraceparent,
  TraceRateLimit,
} from "./trace-context.ts";
import { GotunnelTracer } from "./tracer.ts";
import type { Tracing, TracingOptions } from "./tracing.ts";

export const SCOPE_NAME = "gotunnel";

export function createTracing(otlp: OtlpSettings, options: TracingOptions): Tracing {
  const env = options.env ?? process.env;
  const version = buildInfo().version;
  const exporter = new BatchExporter({
    url: otlp.tracesUrl,
    headers: otlp.headers,
    resource: resourceAttributes(options.environment, version, env),
    scope: { name: SCOPE_NAME, version },
    log: options.log,
    env,
    protocol: otlp.protocol,
  });
  const sink = (span: FinishedSpan) => exporter.push(span);
  const tracer = new GotunnelTracer(otlp.sampleRate, sink);
  const registered =
    context.setGlobalContextManager(new AsyncContextManager()) &&
    trace.setGlobalTracerProvider({ getTracer: () => tracer });
  // Only another SDK in this process could have registered first; request spans do not depend on the globals.
  if (!registered) options.log("warn", "tracing: another OpenTelemetry SDK is registered; daemon spans go to it");
  return {
    requests: requestTracing(otlp.sampleRate, otlp.tracesPerSecond, exporter.requests, options.log),
    async shutdown() {
      await exporter.shutdown();
      trace.disable();
      context.disable();
    },
  };
}

/**
 * OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (`k=v,k=v`) as the spec defines them; ours fill what they leave.
 * Shared with the metrics exporter (otlp-metrics.ts), so a collector sees one resource for both signals.
 */
export function resourceAttributes(
  environment: string,
  version: string,
  env: Record<string, string | undefined>,
): Record<string, AttributeValue> {
  const fromEnv: Record<string, string> = {};
  for (const pair of (env.OTEL_RESOURCE_ATTRIBUTES ?? "").split(",")) {
    const at = pair.indexOf("=");
    if (at > 0) fromEnv[pair.slice(0, at).trim()] = decodeURIComponentSafe(pair.slice(at + 1).trim());
  }
  return {
    "service.name": "gotunnel",
    "service.version": version,
    "deployment.environment.name": environment,
    ...fromEnv,
    ...(env.OTEL_SERVICE_NAME?.trim() ? { "service.name": env.OTEL_SERVICE_NAME.trim() } : {}),
  };
}

function decodeURIComponentSafe(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** How often the daemon log may say that the trace cap is turning requests away. */
const CAP_LOG_INTERVAL_MS = 60_000;

/**
 * The proxy's hook: parent-based sampling from the client's `traceparent`, spans recorded into `spans`. A new trace
 * also needs a token from the cap (`perSecond`; Infinity: none). A caller's sampled trace is always continued, cap or
 * not: dropping our span would break the caller's trace in two.
 */
function requestTracing(
  ratio: number,
  perSecond: number,
  spans: RequestSpans,
  log: TracingOptions["log"],
): RequestTracing {
  const cap = Number.isFinite(perSecond) ? new TraceRateLimit(perSecond) : undefined;
  let capLoggedAt = Number.NEGATIVE_INFINITY;
  const refused = (atMs: number) => {
    if (atMs - capLoggedAt < CAP_LOG_INTERVAL_MS) return;
    capLoggedAt = atMs;
    log(
      "info",
      `tracing: more than ${perSecond} new traces a second; tracing ${perSecond} a second ` +
        "(observability.tracesPerSecond, or GOTUNNEL_TRACES_PER_SECOND=unlimited)",
    );
  };
  return {
    start(ctx, incoming) {
      const parent = incoming === null ? undefined : parseTraceparent(incoming);
      if (!isSampled(parent, ratio)) return;
      if (parent) {
        ctx.traceparent = formatTraceparent(parent.traceId, newSpanId(), true);
        ctx.parentSpanId = parent.spanId;
        return;
      }
      if (cap !== undefined) {
        const atMs = ctx.spanStartMs ?? nowMs();
        if (!cap.take(atMs)) {
          refused(atMs);
          return;
        }
      }
      ctx.traceparent = newTraceparent();
    },
    finish: (ctx, method, route, status, error) => spans.record(ctx, method, route, status, error),
  };
}

/** What @opentelemetry/context-async-hooks does, in the few lines Bun's AsyncLocalStorage needs. */
export class AsyncContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();

  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.storage.run(ctx, () => fn.apply(thisArg, args));
  }

  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== "function") return target;
    const fn = target as (...args: unknown[]) => unknown;
    return ((...args: unknown[]) => this.with(ctx, fn, undefined, ...args)) as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.storage.disable();
    return this;
  }
}
