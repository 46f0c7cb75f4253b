/**
 * Errors (and sampled daemon operations) to Sentry, only when the user named a DSN (telemetry/settings.ts): the only
 * module that imports @sentry/bun, and only inside startSentry, so a daemon without a DSN never loads it (~60 ms,
 * DESIGN.md). Every event passes scrub.ts on its way out.
 *
 * What we turn off and why (@sentry/bun 11 defaults): `defaultIntegrations: false` drops the Bun.serve and fetch
 * wrappers (they would trace every proxied request and record its URL), console breadcrumbs (our log lines name
 * domains), context lines and local variables (they read source files and values), OS/device context and the module
 * list, and session pings. `serverName` is fixed: the SDK would send os.hostname(). OpenTelemetry: @sentry/node 11
 * sets up no global tracer provider unless `enableOpenTelemetrySetup` is true; we leave it false, so the OTLP tracer
 * (telemetry/tracing) stays the only one and Sentry keeps its own spans in AsyncLocalStorage. `traceLifecycle:
 * "static"` sends spans inside transaction events, so `beforeSendTransaction` scrubs them too (streamed spans would
 * go through a different callback).
 */
import type { BunOptions } from "@sentry/bun";
import { buildInfo } from "../core/build-info.ts";
import { type Category, categoryOf, type ErrorReporter, type ReportTags } from "./report.ts";
import { scrubEvent, scrubSecrets, textScrubber } from "./scrub.ts";
import type { SentrySettings } from "./settings.ts";
import { activeSpanIds } from "./span-ids.ts";

/** `op` of the performance spans: one name for all daemon operations; the span name says which. */
const SPAN_OP = "gotunnel.daemon";
/** The fixed `server_name` (the SDK's default is the machine's host name); scrub.ts drops it as well. */
const SERVER_NAME = "gotunnel";

type Env = Record<string, string | undefined>;

/**
 * @sentry/core 11's successor of `sendDefaultPii: false`, with every category off, not just user info: the
 * integrations that would fill them are off too, so this only guards against one being turned on later.
 */
const DATA_COLLECTION_OFF: NonNullable<BunOptions["dataCollection"]> = {
  userInfo: false,
  cookies: false,
  httpHeaders: false,
  httpBodies: [],
  urlQueryParams: false,
  graphQL: { document: false, variables: false },
  genAI: { inputs: false, outputs: false },
  databaseQueryData: false,
  queues: false,
  stackFrameVariables: false,
  frameContextLines: 0,
};

/** `gotunnel@0.1.0+3f2a9c1d0e4b`: Sentry's release syntax, with the commit as build metadata. */
export function releaseName(): string {
  const { version, commit } = buildInfo();
  return `gotunnel@${version}+${commit}`;
}

/** Starts the SDK; the daemon calls this once, before it serves, and flushes the reporter on its way out. */
export async function startSentry(
  settings: SentrySettings,
  environment: string,
  env: Env = process.env,
): Promise<ErrorReporter> {
  const Sentry = await import("@sentry/bun");
  const scrub = textScrubber(scrubSecrets(env));
  Sentry.init({
    dsn: settings.dsn,
    environment,
    release: releaseName(),
    sampleRate: settings.sampleRate,
    tracesSampleRate: settings.tracesSampleRate,
    dataCollection: DATA_COLLECTION_OFF,
    serverName: SERVER_NAME,
    defaultIntegrations: false,
    integrations: [
      Sentry.linkedErrorsIntegration(),
      Sentry.dedupeIntegration(),
      // A crash still exits 1 as it would without Sentry (after a bounded flush); `strict` keeps Bun's exit on an
      // unhandled rejection instead of the SDK's default of only warning.
      Sentry.onUncaughtExceptionIntegration(),
      Sentry.onUnhandledRejectionIntegration({ mode: "strict" }),
    ],
    enableOpenTelemetrySetup: false,
    traceLifecycle: "static",
    sendClientReports: false,
    beforeSend: (event) => scrubEvent(withDefaultTags(event), scrub),
    beforeSendTransaction: (event) => scrubEvent(event, scrub),
    beforeBreadcrumb: (breadcrumb) => scrubEvent(breadcrumb, scrub),
  });
  return {
    report(error, tags) {
      Sentry.captureException(error, { tags: errorTags(error, tags, activeSpanIds()?.traceId) });
    },
    span: (name, work) => Sentry.startSpan({ name, op: SPAN_OP }, work),
    flush: async (timeoutMs) => {
      await Sentry.flush(timeoutMs);
    },
  };
}

/** component, category, the error code (E_IO) and the OpenTelemetry trace id: closed sets and ids, nothing else. */
export function errorTags(error: unknown, tags: ReportTags, traceId: string | undefined): Record<string, string> {
  const category: Category = tags.category ?? categoryOf(error);
  const code = (error as { code?: unknown } | null)?.code;
  return {
    component: tags.component,
    category,
    ...(typeof code === "string" && /^E_[A-Z_]+$/.test(code) ? { error_code: code } : {}),
    ...(traceId ? { trace_id: traceId } : {}),
  };
}

/** Crashes reach Sentry through the SDK's own handlers, without our tags: they are the daemon's bugs. */
function withDefaultTags<T extends { tags?: Record<string, unknown> }>(event: T): T {
  const tags = event.tags ?? {};
  if (tags.component !== undefined) return event;
  return { ...event, tags: { ...tags, component: "daemon", category: "internal" } };
}
