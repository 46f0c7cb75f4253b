/**
 * Where each field of the Go gotunnel's config.yaml (version 1, legacy.ts) goes in the current shape, or why it has
 * no place there. Keyed by the field's dotted path in the Go shape; a field with no rule is dropped with a generic
 * note. The Go tool expanded `${VAR}` in values; this gotunnel reads those variables itself (SENTRY_DSN,
 * ENVIRONMENT), so a placeholder is dropped rather than copied as a literal string.
 */

export type RuleOutcome = { to: string; value: unknown; note?: string } | { note: string };
export type Rule = (
  value: unknown,
  legacy: ReadonlyMap<string, unknown>,
  target: Readonly<Record<string, unknown>>,
) => RuleOutcome;

const PLACEHOLDER_RE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

const move =
  (to: string): Rule =>
  (value) => ({ to, value });

const drop =
  (note: string): Rule =>
  () => ({ note });

/** A value unless it is a `${VAR}` placeholder, which `variable` reads at run time instead. */
const unlessPlaceholder =
  (to: string, variable: string): Rule =>
  (value) => {
    const match = typeof value === "string" ? PLACEHOLDER_RE.exec(value) : null;
    if (match) return { note: `gotunnel reads ${variable} from the environment itself` };
    return { to, value };
  };

function seconds(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value !== "string") return undefined;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!match) return undefined;
  const scale = { ms: 0.001, s: 1, m: 60, h: 3600 }[(match[2] ?? "s") as "ms" | "s" | "m" | "h"];
  return Math.round(Number(match[1]) * scale);
}

const LOG_LEVELS: Record<string, string> = { debug: "debug", info: "info", warn: "info", error: "info" };

const NO_LOG_FILE = "the daemon always logs to daemon.log in its state directory (`gotunnel status` names it)";
const NO_NETWORK = "gotunnel has no setting for it";

export const RULES: Record<string, Rule> = {
  "proxy.http_port": move("proxy.httpPort"),
  "proxy.https_port": move("proxy.httpsPort"),
  "proxy.mode": drop("gotunnel has one built-in proxy"),
  "proxy.auto_install": drop("gotunnel has one built-in proxy"),
  "service.environment": move("observability.environment"),
  "service.name": drop("traces are named by OTEL_SERVICE_NAME (default gotunnel)"),
  "service.version": drop("gotunnel reports its own version"),
  "tunnels.default_https": (value) =>
    value === false
      ? { note: "set `https: false` on each route that should be plain HTTP" }
      : { note: "routes are HTTPS by default" },
  "tunnels.default_https_port": (value, legacy) =>
    legacy.has("proxy.https_port") ? { note: "proxy.https_port sets the port" } : { to: "proxy.httpsPort", value },
  "tunnels.cert_dir": drop(
    "the CA lives in gotunnel's data directory (`gotunnel ca` prints it; GOTUNNEL_HOME moves it)",
  ),
  "observability.logging.level": (value) => {
    const level = typeof value === "string" ? LOG_LEVELS[value.toLowerCase()] : undefined;
    if (level === undefined) return { note: 'log.level is "info" or "debug"' };
    return level === value
      ? { to: "log.level", value }
      : { to: "log.level", value: level, note: 'gotunnel logs "info" or "debug"' };
  },
  "observability.logging.format": move("log.format"),
  "observability.logging.output": drop(NO_LOG_FILE),
  "observability.logging.add_source": drop(NO_LOG_FILE),
  "observability.logging.time_format": drop("log times are ISO 8601 (RFC 3339)"),
  "observability.tracing.enabled": drop("traces are sent when an OTLP endpoint is set, and only then"),
  "observability.tracing.sampler": drop("OTEL_TRACES_SAMPLER chooses the sampler"),
  "observability.tracing.sample_rate": move("observability.tracesSampleRate"),
  "observability.tracing.exporters": (value, legacy) => {
    if (legacy.get("observability.tracing.enabled") === false) return { note: "tracing.enabled was false" };
    const endpoint = Array.isArray(value) ? otlpEndpoint(value) : undefined;
    if (endpoint === undefined) return { note: "gotunnel exports traces over OTLP/HTTP only" };
    return { to: "observability.otlpEndpoint", value: endpoint, note: "the first OTLP exporter; others are dropped" };
  },
  "observability.metrics.enabled": drop("/metrics is always on the admin port (proxy.adminPort)"),
  "observability.metrics.interval": drop("OTEL_METRIC_EXPORT_INTERVAL sets the OTLP metrics interval"),
  "observability.metrics.exporters": drop(
    "/metrics is on the admin port (proxy.adminPort); OTLP metrics go to observability.otlpEndpoint",
  ),
  "observability.sentry.dsn": unlessPlaceholder("observability.sentryDsn", "SENTRY_DSN"),
  "observability.sentry.environment": (value, legacy) =>
    legacy.has("service.environment")
      ? { note: "service.environment sets it" }
      : unlessPlaceholder("observability.environment", "ENVIRONMENT")(value, legacy, {}),
  "observability.sentry.traces_sample_rate": move("observability.sentryTracesSampleRate"),
  "observability.sentry.debug": drop("--debug (or DEBUG=1) makes the whole daemon verbose"),
  "network.mdns_enabled": (value) =>
    value === false ? { to: "lan", value: false } : { note: "`.local` routes are shared on the LAN by default" },
  "network.idle_timeout": (value) => {
    const keepAlive = seconds(value);
    if (keepAlive === undefined) return { note: 'expected a duration such as "60s"' };
    return { to: "proxy.keepAliveTimeout", value: keepAlive };
  },
  "network.dns_enabled": drop("names resolve through the hosts file and gotunnel's mDNS responder"),
  "network.dns_port": drop("mDNS uses port 5353 (RFC 6762)"),
  "network.connect_timeout": drop(NO_NETWORK),
  "network.read_timeout": drop("proxy.clientBodyTimeout bounds a stalled request body"),
  "network.write_timeout": drop(NO_NETWORK),
  "network.proxy_timeout": drop(NO_NETWORK),
  "network.proxy_keep_alive": drop("gotunnel always keeps a keep-alive pool to each dev server"),
};

function otlpEndpoint(exporters: unknown[]): string | undefined {
  for (const exporter of exporters) {
    if (typeof exporter !== "object" || exporter === null) continue;
    const otlp = (exporter as Record<string, unknown>).otlp;
    if (typeof otlp !== "object" || otlp === null) continue;
    const endpoint = (otlp as Record<string, unknown>).endpoint;
    if (typeof endpoint === "string") return endpoint;
  }
  return undefined;
}

/** Why a field without its own rule has no place here, by its section. */
const SECTION_NOTES: Record<string, string> = {
  security: "gotunnel checks privileges, validates certificates and keeps its hosts block itself",
  development: "gotunnel has no setting for it",
};

export function sectionNote(path: string): string {
  return SECTION_NOTES[path.split(".")[0] ?? ""] ?? "the Go gotunnel's setting has no equivalent here";
}
