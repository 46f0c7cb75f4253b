/**
 * Metrics over OTLP/HTTP JSON (https://opentelemetry.io/docs/specs/otlp/#otlphttp): every OTEL_METRIC_EXPORT_INTERVAL
 * the exporter reads the families /metrics shows (daemon/admin.ts daemonFamilies) and POSTs them as one
 * ExportMetricsServiceRequest, so a Prometheus scrape and an OTLP collector always see the same numbers. Imported
 * (dynamically, by daemon/daemon.ts) only when telemetry/settings.ts found a metrics URL.
 *
 * Issue 6 asks for "the same instruments through @opentelemetry/api". The API alone has no SDK behind it: its Meter
 * is a no-op and nothing would aggregate what is recorded through it, while counting each request a second time
 * (metrics.ts's plain counters for /metrics, an API counter for OTLP) would add cost to the request path for the same
 * numbers. So, deliberately, the instruments stay the cheap plain ones in metrics.ts and this file reads them at
 * export time instead of double-counting through the API's Meter.
 */
import type { Environment } from "../config/schema.ts";
import { buildInfo } from "../core/build-info.ts";
import { resourceAttributes, SCOPE_NAME } from "./otlp.ts";
import type { AttributeValue } from "./otlp-export.ts";
import { unixNano } from "./otlp-json.ts";
import { createPost, type OtlpPost } from "./otlp-post.ts";
import type { Family, HistogramSeries, Labels, Sample } from "./prometheus.ts";
import type { OtlpMetricsSettings } from "./settings.ts";

/** AggregationTemporality CUMULATIVE: each export carries the totals since the daemon started. */
const CUMULATIVE = 2;

type AnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number | string };
interface KeyValue {
  key: string;
  value: AnyValue;
}

export interface RequestOptions {
  resource: Record<string, AttributeValue>;
  scope: { name: string; version: string };
  /** When the counters started counting (daemon start), in ms since the epoch. */
  startMs: number;
  nowMs: number;
}

/** The protobuf JSON mapping of ExportMetricsServiceRequest: int64 values and times as decimal strings. */
export function metricsRequest(families: readonly Family[], options: RequestOptions) {
  const times: Times = { startTimeUnixNano: unixNano(options.startMs), timeUnixNano: unixNano(options.nowMs) };
  return {
    resourceMetrics: [
      {
        resource: { attributes: keyValues(options.resource) },
        scopeMetrics: [{ scope: options.scope, metrics: families.flatMap((family) => metric(family, times)) }],
      },
    ],
  };
}

interface Times {
  startTimeUnixNano: string;
  timeUnixNano: string;
}

/**
 * The OTLP unit (UCUM) that a Prometheus name's unit suffix stands for, as OpenTelemetry's Prometheus compatibility
 * spec maps them: `_seconds` is `s`, `_bytes` is `By` (before a counter's `_total`). Counts and other families carry
 * no unit suffix and get no unit.
 */
export function unitOf(name: string): string | undefined {
  const base = name.endsWith("_total") ? name.slice(0, -"_total".length) : name;
  if (base.endsWith("_seconds")) return "s";
  if (base.endsWith("_bytes")) return "By";
  return undefined;
}

/** A family without series has nothing to say yet (no request seen): it is left out rather than sent empty. */
function metric(family: Family, times: Times): object[] {
  const unit = unitOf(family.name);
  const head = { name: family.name, description: family.help, ...(unit ? { unit } : {}) };
  if (family.type === "histogram") {
    if (family.series.length === 0) return [];
    const dataPoints = family.series.map((series) => histogramPoint(series, times));
    return [{ ...head, histogram: { aggregationTemporality: CUMULATIVE, dataPoints } }];
  }
  if (family.samples.length === 0) return [];
  // One value type per metric: a collector may refuse a series that switches between int and double.
  const integral = family.samples.every((sample) => Number.isSafeInteger(sample.value));
  if (family.type === "gauge") {
    // A gauge is a reading, not a total since some start: the data model leaves its start time out.
    const dataPoints = family.samples.map((sample) => numberPoint(sample, integral, times.timeUnixNano));
    return [{ ...head, gauge: { dataPoints } }];
  }
  const dataPoints = family.samples.map((sample) => ({
    ...numberPoint(sample, integral, times.timeUnixNano),
    startTimeUnixNano: times.startTimeUnixNano,
  }));
  return [{ ...head, sum: { aggregationTemporality: CUMULATIVE, isMonotonic: true, dataPoints } }];
}

function numberPoint(sample: Sample, integral: boolean, timeUnixNano: string) {
  const value = integral ? { asInt: String(sample.value) } : { asDouble: double(sample.value) };
  return { attributes: labels(sample.labels), timeUnixNano, ...value };
}

/** HistogramSeries.counts are per bucket (not cumulative) with the +Inf bucket last: OTLP's bucketCounts exactly. */
function histogramPoint(series: HistogramSeries, times: Times) {
  const count = series.counts.reduce((total, value) => total + value, 0);
  return {
    attributes: labels(series.labels),
    ...times,
    count: String(count),
    sum: double(series.sum),
    bucketCounts: series.counts.map(String),
    explicitBounds: [...series.bounds],
  };
}

/** NaN and ±Infinity are strings in the JSON mapping: JSON has no literal for them. */
function double(value: number): number | string {
  return Number.isFinite(value) ? value : String(value);
}

function labels(values: Labels | undefined): KeyValue[] {
  return Object.entries(values ?? {}).map(([key, value]) => ({ key, value: { stringValue: value } }));
}

function keyValues(values: Record<string, AttributeValue>): KeyValue[] {
  return Object.entries(values).map(([key, value]) => ({ key, value: anyValue(value) }));
}

function anyValue(value: AttributeValue): AnyValue {
  if (typeof value === "string") return { stringValue: value };
  if (typeof value === "boolean") return { boolValue: value };
  return Number.isSafeInteger(value) ? { intValue: String(value) } : { doubleValue: double(value) };
}

export interface MetricsExportOptions {
  settings: OtlpMetricsSettings;
  resource: Record<string, AttributeValue>;
  scope: { name: string; version: string };
  startMs: number;
  /** The families to send, read at each export (the same call /metrics makes). */
  collect(): Promise<Family[]>;
  log(level: "info" | "warn", message: string): void;
}

/** The daemon's exporter: the same resource and scope as its spans, so a collector files both under one service. */
export function startMetricsExporter(
  settings: OtlpMetricsSettings,
  options: Pick<MetricsExportOptions, "startMs" | "collect" | "log"> & { environment: Environment },
): MetricsExporter {
  const version = buildInfo().version;
  const resource = resourceAttributes(options.environment, version, process.env);
  return new MetricsExporter({ ...options, settings, resource, scope: { name: SCOPE_NAME, version } });
}

/**
 * A periodic reader: one POST in flight at a time (a slow collector delays the next export, never stacks them), a
 * failing collector logged once per outage, and the final totals sent on shutdown.
 */
export class MetricsExporter {
  private sending: Promise<void> | undefined;
  private readonly timer: ReturnType<typeof setInterval>;
  /** Set while exports fail, so the log gets one line per outage, not one per interval. */
  private failing = false;
  private readonly post: OtlpPost;
  exported = 0;

  constructor(private readonly options: MetricsExportOptions) {
    this.post = createPost(options.settings.metricsUrl);
    this.timer = setInterval(() => void this.export(), options.settings.intervalMs);
    this.timer.unref();
  }

  /** Exports now, or joins the export in flight; never rejects. */
  export(): Promise<void> {
    this.sending ??= this.send().finally(() => {
      this.sending = undefined;
    });
    return this.sending;
  }

  /** Daemon shutdown: stop the timer, then one last export with the final totals, bounded by the POST timeout. */
  async shutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.sending;
    await this.export();
    this.post.close();
  }

  private async send(): Promise<void> {
    const { settings, log } = this.options;
    const url = settings.metricsUrl;
    try {
      const request = metricsRequest(await this.options.collect(), { ...this.options, nowMs: Date.now() });
      const headers = { ...settings.headers, "content-type": "application/json" };
      const status = await this.post.send(JSON.stringify(request), headers, settings.timeoutMs);
      if (status < 200 || status > 299) throw new Error(`the collector answered ${status}`);
      this.exported++;
      if (this.failing) log("info", `OTLP: exporting metrics to ${url} works again`);
      this.failing = false;
    } catch (error) {
      if (!this.failing) {
        const reason = error instanceof Error ? error.message : String(error);
        log("warn", `OTLP: exporting metrics to ${url} failed (${reason}); retrying quietly each interval`);
      }
      this.failing = true;
    }
  }
}
