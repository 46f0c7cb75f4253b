/**
 * Where telemetry may go, decided once at daemon start from the resolved config (`observability.*`, its environment
 * profile) and the standard variables: OTEL_* for traces, SENTRY_DSN (through the config's env layer) for errors.
 * Nothing leaves the machine unless an endpoint or DSN is named, and GOTUNNEL_TELEMETRY=0 or DO_NOT_TRACK=1 turns
 * every export off even then.
 */
import { type Environment, type ObservabilityConfig, PROFILES } from "../config/schema.ts";

export interface OtlpSettings {
  /** Full URL the spans are POSTed to (…/v1/traces). */
  tracesUrl: string;
  /** OTEL_EXPORTER_OTLP_HEADERS / OTEL_EXPORTER_OTLP_TRACES_HEADERS, e.g. an API key. */
  headers: Record<string, string>;
  sampleRate: number;
}

export interface SentrySettings {
  dsn: string;
  sampleRate: number;
  tracesSampleRate: number;
}

export interface TelemetrySettings {
  environment: Environment;
  /** Why exports are off although configured (shown by /debug/config and the daemon log); undefined: allowed. */
  disabledBy: string | undefined;
  /** Undefined: no span leaves the process, and the request path creates none. */
  otlp: OtlpSettings | undefined;
  /** Undefined: @sentry/bun is never imported. */
  sentry: SentrySettings | undefined;
}

type Env = Record<string, string | undefined>;

const OFF = new Set(["0", "false", "no", "off"]);
const ON = new Set(["1", "true", "yes", "on"]);
const TRACES_PATH = "/v1/traces";

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
  const tracesUrl = disabledBy ? undefined : otlpTracesUrl(config, env);
  const dsn = disabledBy ? undefined : config.sentryDsn;
  return {
    environment: config.environment,
    disabledBy,
    otlp: tracesUrl
      ? {
          tracesUrl,
          headers: {
            ...parseHeaders(env.OTEL_EXPORTER_OTLP_HEADERS),
            ...parseHeaders(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS),
          },
          sampleRate: config.tracesSampleRate ?? samplerArg(env) ?? profile.tracesSampleRate,
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
 * The OTLP/HTTP traces URL by the OpenTelemetry spec's rules: the signal-specific variable is used as is, the
 * generic one gets `/v1/traces` appended; OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none mean no export.
 */
export function otlpTracesUrl(config: ObservabilityConfig, env: Env): string | undefined {
  if ((env.OTEL_SDK_DISABLED ?? "").trim().toLowerCase() === "true") return undefined;
  if ((env.OTEL_TRACES_EXPORTER ?? "").trim().toLowerCase() === "none") return undefined;
  const specific = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (specific) return specific;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || config.otlpEndpoint;
  return base ? `${base.replace(/\/+$/, "")}${TRACES_PATH}` : undefined;
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

/** OTEL_TRACES_SAMPLER_ARG when it is a ratio in [0, 1]; otherwise the config or profile decides. */
function samplerArg(env: Env): number | undefined {
  const raw = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  if (!raw) return undefined;
  const value = Number(raw);
  return Number.isFinite(value) && value >= 0 && value <= 1 ? value : undefined;
}

/** For /debug/config and logs: the DSN's key and the exporter headers are secrets. */
export function describeSettings(settings: TelemetrySettings): Record<string, unknown> {
  return {
    environment: settings.environment,
    disabledBy: settings.disabledBy ?? null,
    otlp: settings.otlp
      ? {
          tracesUrl: settings.otlp.tracesUrl,
          headers: Object.keys(settings.otlp.headers),
          sampleRate: settings.otlp.sampleRate,
        }
      : null,
    sentry: settings.sentry
      ? {
          dsn: redactDsn(settings.sentry.dsn),
          sampleRate: settings.sentry.sampleRate,
          tracesSampleRate: settings.sentry.tracesSampleRate,
        }
      : null,
  };
}

/** `https://KEY@host/1` → `https://[redacted]@host/1`. */
export function redactDsn(dsn: string): string {
  return dsn.replace(/\/\/[^@/]+@/, "//[redacted]@");
}
