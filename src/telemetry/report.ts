/**
 * The seam the daemon reports its errors through. It holds no SDK: with Sentry off (no DSN, or GOTUNNEL_TELEMETRY=0 /
 * DO_NOT_TRACK=1) the daemon gets NO_REPORTER, whose calls cost a function call and import nothing; sentry.ts makes
 * the real one. Tags are closed sets on purpose: they are what Sentry groups and filters by, and the scrubber would
 * blank a tag that carried a name or a path.
 */
import { ExitCode, isGotunnelError } from "../core/errors.ts";
import type { TelemetrySettings } from "./settings.ts";

/** Which part of the daemon failed. */
export type Component = "proxy" | "tls" | "hosts" | "mdns" | "daemon";

/** What kind of failure, by the documented exit code names (README "Exit codes"); `internal` is a bug. */
export type Category = "config" | "port" | "tls" | "upstream" | "daemon" | "io" | "internal";

export interface ReportTags {
  component: Component;
  /** Default: derived from the error (categoryOf). */
  category?: Category;
}

export interface ErrorReporter {
  /** Sends `error` with its tags (and the active trace id, if any); never throws. */
  report(error: unknown, tags: ReportTags): void;
  /** Runs `work` as a sampled performance span named `name` (a fixed string: span names are sent unscrubbed). */
  span<T>(name: string, work: () => Promise<T>): Promise<T>;
  /** Sends what is queued, waiting at most `timeoutMs`; resolves either way. */
  flush(timeoutMs: number): Promise<void>;
}

export const NO_REPORTER: ErrorReporter = {
  report: () => undefined,
  span: (_name, work) => work(),
  flush: () => Promise.resolve(),
};

/** `reporter`, also counting each report in `gotunnel_errors_total` (metrics.ts ErrorCounts), Sentry or not. */
export function countingReporter(
  reporter: ErrorReporter,
  counts: { count(component: string, category: string): void },
): ErrorReporter {
  return {
    report(error, tags) {
      counts.count(tags.component, tags.category ?? categoryOf(error));
      reporter.report(error, tags);
    },
    span: (name, work) => reporter.span(name, work),
    flush: (timeoutMs) => reporter.flush(timeoutMs),
  };
}

/** How long the daemon waits on its way out for queued events to reach Sentry. */
export const REPORT_FLUSH_MS = 2_000;

/** Sentry when a DSN is set and exports are allowed; otherwise NO_REPORTER, and @sentry/bun is never loaded. */
export async function startErrorReporter(settings: TelemetrySettings): Promise<ErrorReporter> {
  if (!settings.sentry) return NO_REPORTER;
  const { startSentry } = await import("./sentry.ts");
  return startSentry(settings.sentry, settings.environment);
}

const CATEGORIES = new Set<string>(["config", "port", "tls", "upstream", "daemon", "io", "internal"]);

/** A GotunnelError's exit code name (E_IO → io, E_PORT_IN_USE → port); anything else is a bug: internal. */
export function categoryOf(error: unknown): Category {
  if (!isGotunnelError(error)) return "internal";
  const name = Object.entries(ExitCode).find(([, code]) => code === error.exitCode)?.[0];
  return name !== undefined && CATEGORIES.has(name) ? (name as Category) : "internal";
}
