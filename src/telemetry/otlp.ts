/**
 * Tracing switched on: registers gotunnel's tracer (tracer.ts) and an AsyncLocalStorage context manager with
 * @opentelemetry/api, and builds the proxy's per-request hook. Imported dynamically by tracing.ts, and only when
 * telemetry/settings.ts found an OTLP endpoint, so a daemon without one never loads any of this.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { type Context, type ContextManager, context, ROOT_CONTEXT, trace } from "@opentelemetry/api";
import { buildInfo } from "../core/build-info.ts";
import type { RequestInfo } from "../proxy/forward.ts";
import { upstreamErrorKind } from "./metrics.ts";
import { type AttributeValue, BatchExporter, type FinishedSpan } from "./otlp-export.ts";
import type { OtlpSettings } from "./settings.ts";
import {
  formatTraceparent,
  isSampled,
  newSpanId,
  newTraceId,
  type ParentContext,
  parseTraceparent,
} from "./trace-context.ts";
import { GotunnelTracer, RecordingSpan } from "./tracer.ts";
import type { Tracing, TracingOptions } from "./tracing.ts";

export const SCOPE_NAME = "gotunnel";
/** OTLP SpanKind SERVER. */
const KIND_SERVER = 2;
/** Methods are client input: others are recorded as `_OTHER` (HTTP semconv), with the original alongside. */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);

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
  });
  const sink = (span: FinishedSpan) => exporter.push(span);
  const tracer = new GotunnelTracer(otlp.sampleRate, sink);
  const registered =
    context.setGlobalContextManager(new AsyncContextManager()) &&
    trace.setGlobalTracerProvider({ getTracer: () => tracer });
  // Only another SDK in this process could have registered first; request spans do not depend on the globals.
  if (!registered) options.log("warn", "tracing: another OpenTelemetry SDK is registered; daemon spans go to it");
  return {
    requests: { start: (req, info) => startServerSpan(req, info, otlp.sampleRate, sink) },
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

/** The server span of one proxied request, or undefined when it is not sampled (its traceparent then passes as is). */
function startServerSpan(req: Request, info: RequestInfo, ratio: number, sink: (span: FinishedSpan) => void) {
  const parent = parseTraceparent(req.headers.get("traceparent"));
  return isSampled(parent, ratio) ? new ServerSpan(parent, req.method, info, sink) : undefined;
}

/** HTTP server semantic conventions (https://opentelemetry.io/docs/specs/semconv/http/http-spans/). */
class ServerSpan extends RecordingSpan {
  readonly traceparent: string;

  constructor(
    parent: ParentContext | undefined,
    method: string,
    info: RequestInfo,
    sink: (span: FinishedSpan) => void,
  ) {
    const known = KNOWN_METHODS.has(method);
    const attributes: Record<string, AttributeValue | undefined> = {
      "http.request.method": known ? method : "_OTHER",
      "http.request.method_original": known ? undefined : method,
      "url.scheme": info.proto,
      "url.path": withoutQuery(info.path),
      "server.address": hostnameOf(info.host),
      "server.port": info.port,
      "gotunnel.route": info.route,
      "http.response.status_code": undefined,
      "error.type": undefined,
    };
    const traceId = parent?.traceId ?? newTraceId();
    super(
      traceId,
      newSpanId(),
      parent?.spanId,
      `${known ? method : "HTTP"} ${info.route}`,
      KIND_SERVER,
      attributes,
      sink,
    );
    this.traceparent = formatTraceparent(traceId, this.spanId, true);
  }

  /** A 5xx is a server error (semconv); a 4xx is the client's, so the span's status stays unset. */
  finish(status: number, error: unknown): void {
    this.attributes["http.response.status_code"] = status;
    if (error !== undefined && error !== null) this.attributes["error.type"] = upstreamErrorKind(error);
    else if (status >= 500) this.attributes["error.type"] = String(status);
    if (status >= 500) this.statusCode = 2;
    this.end();
  }
}

/** The query can hold tokens and is not part of url.path (semconv), so it is never recorded. */
function withoutQuery(path: string): string {
  const at = path.indexOf("?");
  return at === -1 ? path : path.slice(0, at);
}

/** `myapp.local:8443` → `myapp.local`; `[::1]:443` → `::1`. */
function hostnameOf(host: string): string {
  if (host.startsWith("[")) return host.slice(1, Math.max(1, host.indexOf("]")));
  const colon = host.indexOf(":");
  return colon === -1 ? host : host.slice(0, colon);
}

/** What @opentelemetry/context-async-hooks does, in the few lines Bun's AsyncLocalStorage needs. */
class AsyncContextManager implements ContextManager {
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
