/**
 * Where telemetry may go, decided once at daemon start from the resolved config (`observability.*`, its environment
 * profile) and the standard variables: OTEL_* for traces and metrics, SENTRY_DSN (through the config's env layer) for errors.
 * Nothing leaves the machine unless an endpoint or DSN is named, and GOTUNNEL_TELEMETRY=0 or DO_NOT_TRACK=1 turns
 * every export off even then.
 */
import { type Environment, type ObservabilityConfig, PROFILES, type Profile } from "../config/schema.ts";
import { redactSecrets } from "../core/redact.ts";

export interface OtlpSettings {
  /** Full URL the spans are POSTed to (…/v1/traces). */
  tracesUrl: string;
  /** OTEL_EXPORTER_OTLP_HEADERS / OTEL_EXPORTER_OTLP_TRACES_HEADERS, e.g. an API key. */
  headers: Record<string, string>;
  sampleRate: number;
  /** The cap on new traces a second; Infinity: none. */
  tracesPerSecond: number;
  /** Set when OTEL_TRACES_SAMPLER names a sampler we do not have: the daemon logs it once. */
  samplerNote: string | undefined;
  /** OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL. */
  protocol: OtlpProtocol;
  /** Set when the variable asked for something we do not send (grpc, a typo): the daemon logs it once. */
  protocolNote: string | undefined;
}

export interface OtlpMetricsSettings {
  /** Full URL the metrics are POSTed to (…/v1/metrics). */
  metricsUrl: string;
  /** OTEL_EXPORTER_OTLP_HEADERS / OTEL_EXPORTER_OTLP_METRICS_HEADERS. */
  headers: Record<string, string>;
  /** OTEL_METRIC_EXPORT_INTERVAL: time between two exports. */
  intervalMs: number;
  /** OTEL_EXPORTER_OTLP_METRICS_TIMEOUT / OTEL_EXPORTER_OTLP_TIMEOUT: how long one POST may take. */
  timeoutMs: number;
}

/** OTLP/HTTP's two encodings; binary protobuf is the spec's default. */
export type OtlpProtocol = "http/protobuf" | "http/json";

export interface SentrySettings {
  dsn: string;
  sampleRate: number;
  tracesSampleRate: number;
}

export interface TelemetrySettings {
  environment: Environment;
  /** Endpoint variables that are not http(s) URLs and so were ignored: the daemon logs each once. */
  endpointNotes: string[];
  /** Why exports are off although configured (shown by /debug/config and the daemon log); undefined: allowed. */
  disabledBy: string | undefined;
  /** Undefined: no span leaves the process, and the request path creates none. */
  otlp: OtlpSettings | undefined;
  /** Undefined: the metrics exporter is never imported; /metrics is still served. */
  otlpMetrics: OtlpMetricsSettings | undefined;
  /** Undefined: @sentry/bun is never imported. */
  sentry: SentrySettings | undefined;
}

type Env = Record<string, string | undefined>;

const OFF = new Set(["0", "false", "no", "off"]);
const ON = new Set(["1", "true", "yes", "on"]);
/** The OTel spec's defaults: OTEL_METRIC_EXPORT_INTERVAL and OTEL_EXPORTER_OTLP_TIMEOUT. */
const METRIC_EXPORT_INTERVAL_MS = 60_000;
const OTLP_TIMEOUT_MS = 10_000;

/** GOTUNNEL_TELEMETRY=0 and DO_NOT_TRACK=1 (consoledonottrack.com) both mean: send nothing anywhere. */
export function exportsDisabledBy(env: Env): string | undefined {
  if (OFF.has((env.GOTUNNEL_TELEMETRY ?? "").trim().toLowerCase())) return "GOTUNNEL_TELEMETRY=0";
  if (ON.has((env.DO_NOT_TRACK ?? "").trim().toLowerCase())) return "DO_NOT_TRACK=1";
  return undefined;
}

export function telemetrySettings(
  config: ObservabilityConfig & { environment: Environment },
  env: Env = process.env,
): TelemetrySettings {
  const profile = PROFILES[config.environment];
  const disabledBy = exportsDisabledBy(env);
  const tracesUrl = disabledBy ? undefined : otlpUrl("traces", config, env);
  const metricsUrl = disabledBy ? undefined : otlpUrl("metrics", config, env);
  const dsn = disabledBy ? undefined : config.sentryDsn;
  return {
    environment: config.environment,
    endpointNotes: disabledBy ? [] : endpointNotes(env),
    disabledBy,
    otlp: tracesUrl
      ? {
          tracesUrl,
          headers: otlpHeaders(env, env.OTEL_EXPORTER_OTLP_TRACES_HEADERS),
          ...sampling(config, env, profile),
          ...tracesProtocol(env),
        }
      : undefined,
    otlpMetrics: metricsUrl
      ? {
          metricsUrl,
          headers: otlpHeaders(env, env.OTEL_EXPORTER_OTLP_METRICS_HEADERS),
          intervalMs: positiveInteger(env.OTEL_METRIC_EXPORT_INTERVAL) ?? METRIC_EXPORT_INTERVAL_MS,
          timeoutMs:
            positiveInteger(env.OTEL_EXPORTER_OTLP_METRICS_TIMEOUT) ??
            positiveInteger(env.OTEL_EXPORTER_OTLP_TIMEOUT) ??
            OTLP_TIMEOUT_MS,
        }
      : undefined,
    sentry: dsn
      ? {
          dsn,
          sampleRate: config.sentrySampleRate ?? 1,
          tracesSampleRate: config.sentryTracesSampleRate ?? profile.sentryTracesSampleRate,
        }
      : undefined,
  };
}

/**
 * A signal's OTLP/HTTP URL by the OpenTelemetry spec's rules: the signal-specific variable
 * (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, …_METRICS_ENDPOINT) is used as is, the generic one gets `v1/<signal>`
 * appended to its path; OTEL_SDK_DISABLED=true or OTEL_<SIGNAL>_EXPORTER=none mean no export of that signal.
 * A variable that is not an http(s) URL is ignored (endpointNotes says so), as the spec asks of a value an SDK
 * cannot parse: the daemon must not fail over where its telemetry goes.
 */
export function otlpUrl(signal: "traces" | "metrics", config: ObservabilityConfig, env: Env): string | undefined {
  const upper = signal.toUpperCase();
  if ((env.OTEL_SDK_DISABLED ?? "").trim().toLowerCase() === "true") return undefined;
  if ((env[`OTEL_${upper}_EXPORTER`] ?? "").trim().toLowerCase() === "none") return undefined;
  const specific = env[`OTEL_EXPORTER_OTLP_${upper}_ENDPOINT`]?.trim();
  if (specific && httpUrl(specific)) return specific;
  const base = httpUrl(env.OTEL_EXPORTER_OTLP_ENDPOINT) ?? httpUrl(config.otlpEndpoint);
  if (!base) return undefined;
  // `http://c:4318/base?x=1` → `http://c:4318/base/v1/traces?x=1`: the path gets the signal, the query stays one.
  base.pathname = `${base.pathname.replace(/\/+$/, "")}/v1/${signal}`;
  return base.href;
}

const ENDPOINT_VARIABLES = [
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
  "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
] as const;

function httpUrl(raw: string | undefined): URL | undefined {
  const text = raw?.trim();
  if (!text || !URL.canParse(text)) return undefined;
  const url = new URL(text);
  return url.protocol === "http:" || url.protocol === "https:" ? url : undefined;
}

/** One line for each endpoint variable that is set but is no http(s) URL (otlpUrl ignored it). */
function endpointNotes(env: Env): string[] {
  return ENDPOINT_VARIABLES.flatMap((name) => {
    const value = env[name]?.trim();
    if (!value || httpUrl(value)) return [];
    return [`${name}=${value} is not an http(s) URL, so it is ignored; e.g. http://127.0.0.1:4318`];
  });
}

/**
 * OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL, else `http/protobuf` (the spec's default).
 * gRPC is not spoken: it falls back to protobuf over HTTP, with a note naming what to change.
 * Traces only: metrics (otlp-metrics.ts, one small export a minute) are always sent as OTLP/JSON.
 */
function tracesProtocol(env: Env): { protocol: OtlpProtocol; protocolNote: string | undefined } {
  const name = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
  const [variable, raw] = env[name]?.trim()
    ? [name, env[name]?.trim() ?? ""]
    : ["OTEL_EXPORTER_OTLP_PROTOCOL", env.OTEL_EXPORTER_OTLP_PROTOCOL?.trim() ?? ""];
  const value = raw.toLowerCase();
  if (value === "" || value === "http/protobuf") return { protocol: "http/protobuf", protocolNote: undefined };
  if (value === "http/json") return { protocol: "http/json", protocolNote: undefined };
  const why = value === "grpc" ? "gRPC is not supported" : "expected http/protobuf or http/json";
  return {
    protocol: "http/protobuf",
    protocolNote: `${variable}=${raw}: ${why}; sending traces as http/protobuf (use port 4318, the OTLP/HTTP one)`,
  };
}

/** A duration variable in milliseconds; anything but a positive integer leaves the default. */
function positiveInteger(raw: string | undefined): number | undefined {
  const value = Number(raw?.trim() || Number.NaN);
  return Number.isInteger(value) && value > 0 ? value : undefined;
}

/** The shared OTEL_EXPORTER_OTLP_HEADERS, overridden by the signal's own variable. */
function otlpHeaders(env: Env, signalHeaders: string | undefined): Record<string, string> {
  return { ...parseHeaders(env.OTEL_EXPORTER_OTLP_HEADERS), ...parseHeaders(signalHeaders) };
}

/** `key1=value1,key2=value2`, values URL-encoded (OTel spec); malformed pairs are skipped. */
export function parseHeaders(value: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (value ?? "").split(",")) {
    const at = pair.indexOf("=");
    if (at <= 0) continue;
    const key = pair.slice(0, at).trim();
    try {
      headers[key] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      headers[key] = pair.slice(at + 1).trim();
    }
  }
  return headers;
}

/**
 * The ratio and the cap. The config wins, then the standard variables, then the profile. OTEL_TRACES_SAMPLER naming
 * one of the spec's samplers means the user chose how to sample, and those have no cap: the cap is off unless the
 * config sets one. gotunnel always continues a caller's decision (the `parentbased_` samplers' behaviour).
 */
function sampling(
  config: ObservabilityConfig,
  env: Env,
  profile: Profile,
): { sampleRate: number; tracesPerSecond: number; samplerNote: string | undefined } {
  const raw = env.OTEL_TRACES_SAMPLER?.trim() ?? "";
  const standard = standardSampler(raw.toLowerCase(), env);
  const perSecond = config.tracesPerSecond ?? (standard === undefined ? profile.tracesPerSecond : "unlimited");
  return {
    sampleRate: config.tracesSampleRate ?? standard ?? samplerArg(env) ?? profile.tracesSampleRate,
    tracesPerSecond: perSecond === "unlimited" ? Number.POSITIVE_INFINITY : perSecond,
    samplerNote:
      raw === "" || standard !== undefined
        ? undefined
        : `OTEL_TRACES_SAMPLER=${raw}: expected always_on, always_off, traceidratio or their parentbased_ forms; ` +
          "sampling as the profile says",
  };
}

/** The ratio of one of the OTel spec's built-in samplers (OTEL_TRACES_SAMPLER), or undefined for any other name. */
function standardSampler(name: string, env: Env): number | undefined {
  switch (name) {
    case "always_on":
    case "parentbased_always_on":
      return 1;
    case "always_off":
    case "parentbased_always_off":
      return 0;
    case "traceidratio":
    case "parentbased_traceidratio":
      // The spec's default ratio when OTEL_TRACES_SAMPLER_ARG is missing or invalid.
      return samplerArg(env) ?? 1;
    default:
      return undefined;
  }
}

/** OTEL_TRACES_SAMPLER_ARG when it is a ratio in [0, 1]; otherwise the config or profile decides. */
function samplerArg(env: Env): number | undefined {
  const raw = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  if (!raw) return undefined;
  const value = Number(raw);
  return Number.isFinite(value) && value >= 0 && value <= 1 ? value : undefined;
}

/** For /debug/config and logs: the DSN's key, the exporter headers and any credentials in the URLs are secrets. */
export function describeSettings(settings: TelemetrySettings): Record<string, unknown> {
  return {
    environment: settings.environment,
    disabledBy: settings.disabledBy ?? null,
    otlp: settings.otlp
      ? {
          tracesUrl: redactSecrets(settings.otlp.tracesUrl),
          headers: Object.keys(settings.otlp.headers),
          sampleRate: settings.otlp.sampleRate,
          tracesPerSecond: Number.isFinite(settings.otlp.tracesPerSecond) ? settings.otlp.tracesPerSecond : "unlimited",
          protocol: settings.otlp.protocol,
        }
      : null,
    otlpMetrics: settings.otlpMetrics
      ? {
          metricsUrl: redactSecrets(settings.otlpMetrics.metricsUrl),
          headers: Object.keys(settings.otlpMetrics.headers),
          intervalMs: settings.otlpMetrics.intervalMs,
        }
      : null,
    sentry: settings.sentry
      ? {
          dsn: redactSecrets(settings.sentry.dsn),
          sampleRate: settings.sentry.sampleRate,
          tracesSampleRate: settings.sentry.tracesSampleRate,
        }
      : null,
  };
}
