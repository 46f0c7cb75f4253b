/**
 * The config schema: the one source of the config's types, defaults and field docs (`v.description`), and the
 * validation of one config layer against it. Finding and reading files is load.ts's job; what a route name or a
 * target string may be is domain.ts's. Messages are phrased as what would be valid, because the loader prints
 * them next to the field path and the value it found.
 */
import * as v from "valibot";
import { closest } from "../core/suggest.ts";

export { closest };

import {
  type BalancePolicy,
  backendsOf,
  type HealthCheck,
  healthSchema,
  MAX_TARGETS,
  ONLY_WITH_TARGETS,
  policySchema,
  TARGET_AND_TARGETS,
} from "./backends.ts";
import {
  commandSchema,
  cwdSchema,
  DEV_ONLY_FIELDS,
  type DevFields,
  type DevServerConfig,
  devPortSchema,
  devServerOf,
  envSchema,
  rewriteOriginSchema,
  waitTimeoutSchema,
} from "./dev-server.ts";
import {
  checkDomain,
  type DomainName,
  PORT_MAX,
  parseTarget,
  portTarget,
  TARGET_EXAMPLE,
  UPSTREAM_PORT_MIN,
  type UpstreamTarget,
} from "./domain.ts";
import { CONFIG_VERSION } from "./legacy.ts";
import { notifySchema, uniqueWebhooks, type Webhook } from "./notify.ts";
import { type PROFILE_FIELDS, profilesSchema } from "./profiles.ts";

/** Proxy listeners may use 0: the OS picks a free port (tests, and running next to another proxy). */
export const PROXY_PORT_MIN = 0;
/**
 * Admin endpoints (daemon/admin.ts): a fixed port so a scrape config or HEALTHCHECK can name it; loopback only.
 * Applied by the daemon, not the schema, so `proxy` stays the same object for every command that never serves admin.
 */
export const DEFAULT_ADMIN_PORT = 7070;
export const DEFAULT_HTTP_PORT = 80;
export const DEFAULT_HTTPS_PORT = 443;
/**
 * Client timeouts, in seconds, applied by the daemon (not the schema, like adminPort). nginx's defaults:
 * keepalive_timeout 75 s, client_body_timeout 60 s (https://nginx.org/en/docs/http/ngx_http_core_module.html).
 */
export const DEFAULT_KEEPALIVE_TIMEOUT_S = 75;
export const DEFAULT_CLIENT_BODY_TIMEOUT_S = 60;
/**
 * HTTP/2 on the HTTPS listener, applied by the daemon like the timeouts. On by default: a page of hundreds of ES
 * modules is otherwise limited to six HTTP/1.1 connections per name (the browsers' limit; issue 16).
 */
export const DEFAULT_HTTP2 = true;
/** Bun.serve's idleTimeout, which carries the keep-alive timeout, takes at most 255 seconds. */
export const MAX_KEEPALIVE_TIMEOUT_S = 255;
/** A day: long enough for any upload that is still sending; the bound only keeps the timer value sane. */
const MAX_CLIENT_BODY_TIMEOUT_S = 86_400;
/** LAN sharing is on unless turned off: the point of `.local` names is that phones on the Wi-Fi can open them. */
export const LAN_DEFAULT = true;
/** Loopback only by default: exposing dev servers to the LAN is an explicit choice (`host: "0.0.0.0"`). */
export const DEFAULT_BIND_HOST = "127.0.0.1";

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Rejects arrays too, which valibot's object/record schemas would otherwise accept as objects. */
function plainObject<const S extends v.GenericSchema>(schema: S, expects: string) {
  return v.pipe(v.custom<v.InferInput<S>>(isPlainObject, expects), schema);
}

function port(min: number, description: string) {
  const expects = `expected an integer port from ${min} to ${PORT_MAX}`;
  return v.pipe(
    v.number(expects),
    v.integer(expects),
    v.minValue(min, expects),
    v.maxValue(PORT_MAX, expects),
    v.description(description),
  );
}

function bool(description: string) {
  return v.pipe(v.boolean("expected true or false"), v.description(description));
}

const upstreamPortSchema = v.pipe(
  port(UPSTREAM_PORT_MIN, "Upstream port on localhost."),
  v.transform((portNumber: number) => portTarget(portNumber)),
);

const targetStringSchema = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const parsed = parseTarget(dataset.value);
    if (typeof parsed !== "string") return parsed;
    addIssue({ message: parsed });
    return NEVER;
  }),
);

function rejectAll(expects: string) {
  return v.custom<never>(() => false, expects);
}

const targetSchema = v.pipe(
  v.lazy((input) => {
    if (typeof input === "number") return upstreamPortSchema;
    if (typeof input === "string") return targetStringSchema;
    return rejectAll(`expected a port or a URL, ${TARGET_EXAMPLE}`);
  }),
  v.description("Where requests go: a port on localhost, or an http(s) origin with no path."),
);

/** RFC 9110 §5.1: a field name is a token. */
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** CR, LF and NUL in a value would split or truncate the request (RFC 9110 §5.5). */
const HEADER_VALUE_RE = /^[^\r\n\0]*$/;

const headersSchema = plainObject(
  v.record(
    v.pipe(v.string(), v.regex(HEADER_NAME_RE, "expected a header name (letters, digits and !#$%&'*+.^_`|~-)")),
    v.pipe(
      v.string("expected a string header value"),
      v.regex(HEADER_VALUE_RE, "expected a header value without CR, LF or NUL characters"),
    ),
  ),
  'expected an object of header names to values, e.g. { "x-forwarded-prefix": "/app" }',
);

/** Route defaults, shared by the object form and the shorthand (port or URL) form. */
export const ROUTE_DEFAULTS = { https: true, preserveHost: true } as const;

/**
 * The target of a route whose dev server gotunnel starts on a port it picks (`command` without `port`): `up` gives
 * it a real port before the route reaches the daemon (src/devserver/ports.ts). The control protocol refuses port 0,
 * so a route that skipped that step cannot be served by mistake.
 */
export const UNASSIGNED_PORT = 0;

const TARGET_REQUIRED =
  'is required: a port or a URL, e.g. { target: 3000 }, or a `command` that starts the dev server, e.g. { command: "npm run dev" }';

const TARGETS_EXPECTS = `expected an array of 1 to ${MAX_TARGETS} targets, e.g. [8080, 8081] or ["http://127.0.0.1:8080", "http://127.0.0.1:8081"]`;

const targetsSchema = v.pipe(
  v.array(targetSchema, TARGETS_EXPECTS),
  v.minLength(1, TARGETS_EXPECTS),
  v.maxLength(MAX_TARGETS, TARGETS_EXPECTS),
  v.description(
    "Several backends for this route (instead of `target`), each a port or an http(s) origin; `policy` picks one per request, and a backend that refuses connections or answers 502 is skipped for a while.",
  ),
);

const routeObjectSchema = v.pipe(
  v.object({
    target: v.optional(targetSchema),
    targets: v.optional(targetsSchema),
    policy: v.optional(policySchema),
    health: v.optional(healthSchema),
    https: v.optional(
      bool("Serve over HTTPS (true), or over plain HTTP only with no redirect (false)."),
      ROUTE_DEFAULTS.https,
    ),
    headers: v.optional(
      v.pipe(headersSchema, v.description("Headers added to every request sent upstream.")),
      {} as Record<string, string>,
    ),
    preserveHost: v.optional(
      bool("Send the browser's Host header upstream (true) or the target's (false)."),
      ROUTE_DEFAULTS.preserveHost,
    ),
    // No default: an unset route `lan` follows the global `lan`, which a higher config layer may set.
    lan: v.optional(
      bool(
        "Share this route on the LAN: its .local name over mDNS, and clients other than this machine. Unset: the global `lan`.",
      ),
    ),
    rewriteOrigin: v.optional(rewriteOriginSchema),
    command: v.optional(commandSchema),
    cwd: v.optional(cwdSchema),
    env: v.optional(envSchema),
    port: v.optional(devPortSchema),
    waitTimeout: v.optional(waitTimeoutSchema),
  }),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const { targets, policy, health, ...single } = dataset.value;
    // `parsed`: the value is already parsed (targets), so showing it would show our objects, not what was written.
    const fail = (key: string, message: string, parsed = false) => {
      const value = (dataset.value as Record<string, unknown>)[key];
      const item: v.ObjectPathItem = { type: "object", origin: "value", input: dataset.value, key, value };
      addIssue({ message, input: parsed ? undefined : value, path: [item] });
    };
    if (targets !== undefined) {
      if (single.target !== undefined) fail("targets", TARGET_AND_TARGETS, true);
      if (single.command !== undefined)
        fail("targets", "a route with a `command` has one dev server: use `port`", true);
      if (single.target !== undefined || single.command !== undefined) return NEVER;
      return { ...single, ...backendsOf(targets, policy, health) };
    }
    if (policy !== undefined) fail("policy", ONLY_WITH_TARGETS);
    if (health !== undefined) fail("health", ONLY_WITH_TARGETS);
    const { target, port, ...rest } = single;
    if (rest.command === undefined) {
      const stray = DEV_ONLY_FIELDS.filter((key) => dataset.value[key] !== undefined);
      for (const key of stray) fail(key, "only applies to a route with a `command` (the dev server gotunnel starts)");
      if (target === undefined) fail("target", TARGET_REQUIRED);
    } else if (target !== undefined && port !== undefined) {
      fail("port", "give `port` (the dev server's port on localhost) or `target` (its full URL), not both");
    }
    if (target === undefined && rest.command === undefined) return NEVER;
    if (target !== undefined && port !== undefined) return NEVER;
    if (policy !== undefined || health !== undefined) return NEVER;
    const devPort = port ?? (rest.command !== undefined && target !== undefined ? target.port : undefined);
    return {
      ...rest,
      target: target ?? portTarget(port ?? UNASSIGNED_PORT),
      ...(devPort === undefined ? {} : { port: devPort }),
    };
  }),
);

const ROUTE_EXPECTS = `expected a port, a URL (${TARGET_EXAMPLE}) or an object { target, targets, https, headers, preserveHost, lan, command, … }`;

const shorthandRoute = (schema: typeof upstreamPortSchema | typeof targetStringSchema) =>
  v.pipe(
    schema,
    v.transform((target: UpstreamTarget) => ({
      target,
      ...ROUTE_DEFAULTS,
      headers: {} as Record<string, string>,
    })),
  );

const routeSchema = v.lazy((input) => {
  if (isPlainObject(input)) return routeObjectSchema;
  if (typeof input === "number") return shorthandRoute(upstreamPortSchema);
  if (typeof input === "string") return shorthandRoute(targetStringSchema);
  return rejectAll(ROUTE_EXPECTS);
});

function seconds(max: number, description: string) {
  const expects = `expected a whole number of seconds from 0 to ${max} (0: no timeout)`;
  return v.optional(
    v.pipe(
      v.number(expects),
      v.integer(expects),
      v.minValue(0, expects),
      v.maxValue(max, expects),
      v.description(description),
    ),
  );
}

const BIND_HOST_EXPECTS = 'expected an IP address or host name to listen on, e.g. "127.0.0.1", "0.0.0.0" or "::1"';

const proxySchema = plainObject(
  v.object({
    httpPort: v.optional(
      port(PROXY_PORT_MIN, "HTTP listener port (redirects to HTTPS). 0: any free port."),
      DEFAULT_HTTP_PORT,
    ),
    httpsPort: v.optional(port(PROXY_PORT_MIN, "HTTPS listener port. 0: any free port."), DEFAULT_HTTPS_PORT),
    adminPort: v.optional(
      v.pipe(
        v.union(
          [port(PROXY_PORT_MIN, ""), v.literal(false)],
          `expected an integer port from ${PROXY_PORT_MIN} to ${PORT_MAX}, or false to turn the admin port off`,
        ),
        v.description(
          "Loopback port of the admin endpoints (/health/*, /metrics, /version, /debug/config). Default 7070. 0: any free port. false: none (the control socket still answers).",
        ),
      ),
    ),
    host: v.optional(
      v.pipe(
        v.string(BIND_HOST_EXPECTS),
        v.regex(/^(?:[A-Za-z0-9.-]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/, BIND_HOST_EXPECTS),
        v.description("Address the proxy listens on. Use 0.0.0.0 to serve the LAN."),
      ),
      DEFAULT_BIND_HOST,
    ),
    keepAliveTimeout: seconds(
      MAX_KEEPALIVE_TIMEOUT_S,
      "Seconds an idle keep-alive connection is kept between requests (env GOTUNNEL_KEEPALIVE_TIMEOUT). Default 75. 0: forever.",
    ),
    clientBodyTimeout: seconds(
      MAX_CLIENT_BODY_TIMEOUT_S,
      "Seconds a request body may send nothing before the client gets a 408 (env GOTUNNEL_CLIENT_BODY_TIMEOUT). Default 60. 0: forever.",
    ),
    http2: v.optional(
      bool(
        "Offer HTTP/2 (h2) next to HTTP/1.1 on the HTTPS listener, chosen by ALPN (env GOTUNNEL_HTTP2). Default true. false: HTTP/1.1 only.",
      ),
    ),
  }),
  "expected an object { httpPort, httpsPort, adminPort, host, keepAliveTimeout, clientBodyTimeout, http2 }",
);

/**
 * Routes the daemon finds by itself (daemon/discovery.ts). No default here: an unset field lets a lower layer's
 * value through, and the daemon reads an unset `docker` as false.
 */
const discoverySchema = plainObject(
  v.object({
    docker: v.optional(
      bool(
        "Route running containers labelled gotunnel.route=NAME (optional gotunnel.port) to their published port, through the Docker Engine API at DOCKER_HOST or the local docker/podman socket (env GOTUNNEL_DOCKER). Default false.",
      ),
    ),
  }),
  "expected an object { docker }, e.g. { docker: true }",
);

// No defaults here: an unset format or level comes from the environment profile (observabilityProfile).
const logSchema = plainObject(
  v.object({
    format: v.optional(
      v.pipe(
        v.picklist(["text", "json"], 'expected "text" or "json"'),
        v.description("Log line format. Default: the environment profile's (text in development, json otherwise)."),
      ),
    ),
    level: v.optional(
      v.pipe(v.picklist(["info", "debug"], 'expected "info" or "debug"'), v.description("Log verbosity.")),
    ),
  }),
  "expected an object { format, level }",
);

export const ENVIRONMENTS = ["development", "staging", "production"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];
const ENVIRONMENT_EXPECTS = `expected one of ${ENVIRONMENTS.map((name) => JSON.stringify(name)).join(", ")}`;

const TRACES_PER_SECOND_EXPECTS = 'expected a number of traces a second above 0 (e.g. 100), or "unlimited"';

function rate(description: string) {
  const expects = "expected a number from 0 to 1 (a fraction, e.g. 0.1 for 10%)";
  return v.optional(
    v.pipe(v.number(expects), v.minValue(0, expects), v.maxValue(1, expects), v.description(description)),
  );
}

function url(description: string, example: string) {
  const expects = `expected an http(s) URL, e.g. ${JSON.stringify(example)}`;
  return v.optional(
    v.pipe(
      v.string(expects),
      v.check((value) => /^https?:\/\/[^\s]+$/.test(value), expects),
      v.description(description),
    ),
  );
}

/**
 * Telemetry settings (telemetry/settings.ts resolves them with the profile and the standard OTEL_* variables). Flat,
 * so layers merge field by field like `proxy`. Nothing is exported unless an endpoint or DSN is given.
 */
const observabilitySchema = plainObject(
  v.object({
    environment: v.optional(
      v.pipe(
        v.picklist(ENVIRONMENTS, ENVIRONMENT_EXPECTS),
        v.description("Profile for log format and sample rates (env ENVIRONMENT). Default development."),
      ),
    ),
    tracesSampleRate: rate("Fraction of requests traced when an OTLP endpoint is set. Default: the profile's."),
    tracesPerSecond: v.optional(
      v.pipe(
        v.union(
          [
            v.pipe(
              v.number(TRACES_PER_SECOND_EXPECTS),
              v.check((value) => value > 0 && Number.isFinite(value), TRACES_PER_SECOND_EXPECTS),
            ),
            v.literal("unlimited"),
          ],
          TRACES_PER_SECOND_EXPECTS,
        ),
        v.description(
          'The most new traces started in a second (env GOTUNNEL_TRACES_PER_SECOND); "unlimited": no cap. Default 1000.',
        ),
      ),
    ),
    otlpEndpoint: url(
      "OTLP/HTTP base URL for traces (OTEL_EXPORTER_OTLP_ENDPOINT wins). Unset: no traces leave the machine.",
      "http://127.0.0.1:4318",
    ),
    sentryDsn: url(
      "Sentry DSN (env SENTRY_DSN). Unset: nothing is sent to Sentry.",
      "https://key@o0.ingest.sentry.io/0",
    ),
    sentrySampleRate: rate("Fraction of errors sent to Sentry. Default 1."),
    sentryTracesSampleRate: rate(
      "Fraction of daemon operations (route changes, shutdown) sent to Sentry as performance data. Default: the profile's.",
    ),
  }),
  "expected an object { environment, tracesSampleRate, tracesPerSecond, otlpEndpoint, sentryDsn, sentrySampleRate, sentryTracesSampleRate }",
);

export interface Profile {
  log: { format: "text" | "json"; level: "info" | "debug" };
  tracesSampleRate: number;
  /** The cap on new traces a second (telemetry/trace-context.ts TraceRateLimit). */
  tracesPerSecond: number;
  sentryTracesSampleRate: number;
}

/**
 * A thousand new traces a second is more than a person clicking through an app (or a page load's few hundred module
 * requests) makes, and a fraction of what a load test sends. It bounds what tracing costs the proxy, and what it
 * sends a local collector, when the traffic is a benchmark rather than a person.
 */
const TRACES_PER_SECOND = 1000;

/** What each environment means when the config does not say otherwise. */
export const PROFILES: Readonly<Record<Environment, Profile>> = {
  development: {
    log: { format: "text", level: "info" },
    tracesSampleRate: 1,
    tracesPerSecond: TRACES_PER_SECOND,
    sentryTracesSampleRate: 1,
  },
  staging: {
    log: { format: "json", level: "info" },
    tracesSampleRate: 0.25,
    tracesPerSecond: TRACES_PER_SECOND,
    sentryTracesSampleRate: 0.2,
  },
  production: {
    log: { format: "json", level: "info" },
    tracesSampleRate: 0.05,
    tracesPerSecond: TRACES_PER_SECOND,
    sentryTracesSampleRate: 0.05,
  },
};
export const DEFAULT_ENVIRONMENT: Environment = "development";

export const configSchema = plainObject(
  v.object({
    version: v.optional(
      v.pipe(
        v.literal(
          CONFIG_VERSION,
          `expected ${CONFIG_VERSION}, the current config version (1 is the Go gotunnel's shape)`,
        ),
        v.description(
          "The shape this file is written in. Unset: the current one, unless the file has fields only the Go gotunnel's config had.",
        ),
      ),
    ),
    routes: v.optional(
      v.pipe(
        plainObject(
          v.record(v.string(), routeSchema),
          'expected an object of route names, e.g. { "myapp.local": 3000 }',
        ),
        v.description('Route name to upstream, e.g. { "myapp.local": 3000 }. "demo" means "demo.local".'),
      ),
      {},
    ),
    proxy: v.optional(proxySchema, {}),
    log: v.optional(logSchema, {}),
    observability: v.optional(observabilitySchema, {}),
    lan: v.optional(
      bool(
        "Share routes on the LAN (mDNS names phones resolve; the proxy listens beyond loopback). A route's own `lan` wins.",
      ),
      LAN_DEFAULT,
    ),
    notify: v.optional(notifySchema),
    discovery: v.optional(discoverySchema, {}),
    profiles: v.optional(profilesSchema),
  }),
  "expected an object with routes, proxy, log, observability, lan, notify, discovery and profiles",
);

type ConfigInput = v.InferInput<typeof configSchema>;
/**
 * What users write: the input type of the schema, so editors complete and check config files. The schema checks a
 * profile only once it is merged (profiles.ts), so its type here is spelled out: the same fields as the file's own.
 */
export type GotunnelConfig = Omit<ConfigInput, "profiles"> & {
  profiles?: Record<string, Pick<ConfigInput, (typeof PROFILE_FIELDS)[number]>>;
};
export type RouteInput = v.InferInput<typeof routeSchema>;
/** One layer after validation: defaults applied, route names not yet normalized. */
export type ParsedConfig = v.InferOutput<typeof configSchema>;

export interface ResolvedRoute {
  name: string;
  wildcard: boolean;
  target: UpstreamTarget;
  https: boolean;
  headers: Record<string, string>;
  preserveHost: boolean;
  /** Unset: follows ResolvedConfig.lan. */
  lan?: boolean;
  /** Path prefixes where a same-origin request's Origin becomes the upstream's origin (proxy/headers.ts). */
  rewriteOrigin?: string[];
  /** Every backend, `target` first; set only when there are two or more (config/backends.ts). */
  targets?: UpstreamTarget[];
  /** Unset with `targets`: DEFAULT_BALANCE_POLICY. */
  policy?: BalancePolicy;
  health?: HealthCheck;
  /**
   * The dev server gotunnel starts for this route (`command`). Without `dev.port`, `target.port` is UNASSIGNED_PORT
   * until `up` picks one.
   */
  dev?: DevServerConfig;
}

export type ObservabilityConfig = ParsedConfig["observability"];

export interface ResolvedConfig {
  routes: ResolvedRoute[];
  proxy: ParsedConfig["proxy"];
  /** Resolved: an unset field comes from the environment profile. */
  log: Profile["log"];
  observability: ObservabilityConfig & { environment: Environment };
  /** Global LAN sharing. Optional until the loader merges it across layers; unset means LAN_DEFAULT. */
  lan?: boolean;
  /** Webhooks of every layer, highest first, each receiver once (config/notify.ts). */
  notify: Webhook[];
  /** Routes the daemon discovers itself; merged field by field across layers like `proxy`. */
  discovery: ParsedConfig["discovery"];
}

/** Identity at runtime; gives `gotunnel.config.ts` type checking and completion. */
export function defineConfig(config: GotunnelConfig): GotunnelConfig {
  return config;
}

/** Defaults for everything but routes, taken from the schema itself. */
export function configDefaults(): Omit<ResolvedConfig, "routes"> {
  const { proxy } = v.parse(configSchema, {});
  return {
    proxy,
    log: { ...PROFILES[DEFAULT_ENVIRONMENT].log },
    observability: { environment: DEFAULT_ENVIRONMENT },
    notify: [],
    discovery: {},
  };
}

/** One problem in one config source. `path` is the field path; `found` is absent when the path says it all. */
export interface ConfigIssue {
  path: string[];
  message: string;
  found?: { value: unknown };
}

/** One layer's values: only the fields it set, so a lower layer's value is not masked by a default. */
export interface LayerValue {
  routes: ResolvedRoute[];
  proxy: Partial<ResolvedConfig["proxy"]>;
  log: Partial<ResolvedConfig["log"]>;
  observability: Partial<ObservabilityConfig>;
  /** Present only when this layer sets `lan`. */
  lan?: boolean;
  notify: Webhook[];
  discovery: Partial<ResolvedConfig["discovery"]>;
}

/** Validates one raw layer: every type/range problem and every unknown key, all at once. */
export function validateConfig(input: unknown): { output: ParsedConfig | undefined; issues: ConfigIssue[] } {
  const result = v.safeParse(configSchema, input);
  const issues: ConfigIssue[] = (result.issues ?? []).map((issue) => ({
    path: (issue.path ?? []).map((item) => String(item.key)),
    message: issue.message,
    // `undefined` is what valibot reports for a missing key; "found undefined" would only add noise.
    ...(issue.input === undefined ? {} : { found: { value: issue.input } }),
  }));
  collectUnknownKeys(configSchema as unknown as SchemaNode, input, [], issues);
  return { output: result.success && issues.length === 0 ? result.output : undefined, issues };
}

/**
 * Validates one layer and normalizes its route names: the layer's values, or every issue it has. `baseDir` is what
 * a route's relative `cwd` is relative to: the layer's file's directory (or, for flags, the shell's).
 */
export function validateLayer(raw: unknown, baseDir = process.cwd()): { value?: LayerValue; issues: ConfigIssue[] } {
  const { output, issues } = validateConfig(raw);
  const names = routeNames(raw, issues);
  if (!output || issues.length > 0) return { issues };
  const routes: ResolvedRoute[] = [];
  for (const [key, route] of Object.entries(output.routes)) {
    const name = names.get(key);
    if (name) routes.push(resolvedRoute(name, route, baseDir));
  }
  const lan = isPlainObject(raw) && raw.lan !== undefined ? { lan: output.lan } : {};
  return {
    issues,
    value: {
      routes,
      proxy: given(raw, "proxy", output.proxy),
      log: given(raw, "log", output.log),
      observability: given(raw, "observability", output.observability),
      notify: uniqueWebhooks(output.notify ?? []),
      discovery: given(raw, "discovery", output.discovery),
      ...lan,
    },
  };
}

type ParsedRoute = ParsedConfig["routes"][string];

function resolvedRoute(name: DomainName, route: ParsedRoute, baseDir: string): ResolvedRoute {
  const { target, https, headers, preserveHost } = route;
  // The shorthand forms (a port, a URL) have none of the optional fields.
  const optional = route as Partial<{
    lan: boolean;
    rewriteOrigin: string[];
    targets: UpstreamTarget[];
    policy: BalancePolicy;
    health: HealthCheck;
  }> &
    DevFields;
  const dev = devServerOf(optional, baseDir);
  return {
    ...name,
    target,
    https,
    headers,
    preserveHost,
    ...(optional.lan === undefined ? {} : { lan: optional.lan }),
    ...(optional.rewriteOrigin === undefined ? {} : { rewriteOrigin: optional.rewriteOrigin }),
    ...(optional.targets === undefined ? {} : { targets: optional.targets }),
    ...(optional.policy === undefined ? {} : { policy: optional.policy }),
    ...(optional.health === undefined ? {} : { health: optional.health }),
    ...(dev === undefined ? {} : { dev }),
  };
}

/** Normalizes every route name, reporting bad names and names that collide after normalization. */
function routeNames(raw: unknown, issues: ConfigIssue[]): Map<string, DomainName> {
  const names = new Map<string, DomainName>();
  const routes = isPlainObject(raw) && isPlainObject(raw.routes) ? raw.routes : {};
  const firstKeyByName = new Map<string, string>();
  for (const key of Object.keys(routes)) {
    const check = checkDomain(key);
    if (!check.ok) {
      issues.push({ path: ["routes", key], message: `invalid route name: ${check.reason}` });
      continue;
    }
    const { name } = check.value;
    const first = firstKeyByName.get(name);
    if (first !== undefined) {
      const message = `same route as routes[${JSON.stringify(first)}] (both mean ${JSON.stringify(name)}); keep one`;
      issues.push({ path: ["routes", key], message });
      continue;
    }
    firstKeyByName.set(name, key);
    names.set(key, check.value);
  }
  return names;
}

/** Only the fields this layer actually set, so a lower layer's value is not masked by a default. */
function given<T extends object>(raw: unknown, section: string, output: T): Partial<T> {
  const input = isPlainObject(raw) ? raw[section] : undefined;
  if (!isPlainObject(input)) return {};
  return Object.fromEntries(Object.entries(output).filter(([key]) => input[key] !== undefined)) as Partial<T>;
}

/** The parts of a valibot schema object that the unknown-key walk reads. */
interface SchemaNode {
  kind: string;
  type: string;
  wrapped?: SchemaNode;
  getter?: (input: unknown) => SchemaNode;
  pipe?: SchemaNode[];
  entries?: Record<string, SchemaNode>;
  value?: SchemaNode;
}

/** Wrappers are shallow here (optional → pipe → lazy → object); the bound only guards against a cycle. */
const MAX_WRAPPER_DEPTH = 8;

/** Follows optional, lazy and pipe wrappers to the object or record schema that will read `input`. */
function containerOf(node: SchemaNode, input: unknown): SchemaNode | undefined {
  let current: SchemaNode | undefined = node;
  for (let depth = 0; current && depth < MAX_WRAPPER_DEPTH; depth++) {
    if (current.type === "object" || current.type === "record") return current;
    if (current.type === "optional") current = current.wrapped;
    else if (current.type === "lazy") current = current.getter?.(input);
    else if (current.pipe) {
      // A pipe copies its first item's properties; a nested pipe is its own node, a plain first item is not.
      const [base, ...rest] = current.pipe;
      current = base?.pipe ? base : rest.find((item) => item.kind === "schema");
    } else return undefined;
  }
  return undefined;
}

/**
 * valibot's strictObject stops at the first unknown key of each object, and without its suggestions; we report
 * every one, with the closest valid key, because a typo like `route` would otherwise just be ignored.
 */
function collectUnknownKeys(node: SchemaNode, input: unknown, path: string[], issues: ConfigIssue[]): void {
  if (!isPlainObject(input)) return;
  const container = containerOf(node, input);
  if (!container) return;
  const known = Object.keys(container.entries ?? {});
  for (const [key, value] of Object.entries(input)) {
    const child = container.type === "record" ? container.value : container.entries?.[key];
    if (child) {
      collectUnknownKeys(child, value, [...path, key], issues);
      continue;
    }
    const guess = closest(key, known);
    const didYouMean = guess ? ` Did you mean ${JSON.stringify(guess)}?` : "";
    issues.push({ path: [...path, key], message: `unknown key.${didYouMean} Valid keys: ${known.join(", ")}` });
  }
}
