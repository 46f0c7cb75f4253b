/**
 * Finished spans → batches → OTLP/HTTP JSON POSTs (https://opentelemetry.io/docs/specs/otlp/#otlphttp), with the
 * batch span processor's standard knobs (OTEL_BSP_*). Loaded only when an endpoint is configured (tracing.ts).
 * The request path only pushes onto a bounded array; encoding and sending happen in batches, one POST in flight at
 * a time. A full queue drops spans and counts them; a failing collector is logged once, never thrown to the proxy.
 */

import { createEncoder } from "./otlp-json.ts";

/** Attribute values we record: OTLP's string, int, double and bool. */
export type AttributeValue = string | number | boolean;

/** A span as the exporter needs it; times in milliseconds since the epoch (fractions kept). */
export interface FinishedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startMs: number;
  endMs: number;
  attributes: Record<string, AttributeValue | undefined>;
  /** OTLP's StatusCode: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  statusMessage: string | undefined;
}

export interface ExportOptions {
  url: string;
  headers: Record<string, string>;
  resource: Record<string, AttributeValue>;
  scope: { name: string; version: string };
  log(level: "info" | "warn", message: string): void;
  env?: Record<string, string | undefined>;
}

const DROP_LOG_INTERVAL_MS = 60_000;
/** Fastest zlib level: 9x smaller JSON; level 6 costs three times the CPU for 1.6x more. */
const GZIP_LEVEL = 1;

/** The OTel spec's batch span processor defaults (OTEL_BSP_*), in the spec's units. */
const DEFAULTS = { scheduleDelayMs: 5_000, exportTimeoutMs: 30_000, maxQueueSize: 2_048, maxBatchSize: 512 };

export interface BatchLimits {
  scheduleDelayMs: number;
  exportTimeoutMs: number;
  maxQueueSize: number;
  maxBatchSize: number;
}

/**
 * OTEL_EXPORTER_OTLP_TRACES_COMPRESSION / OTEL_EXPORTER_OTLP_COMPRESSION: `gzip` or none (the default). gzip makes
 * the body 9x smaller but, measured in the daemon under load, costs ~3 µs more CPU per span than it saves: worth it
 * only for a collector across a slow link.
 */
export function compressionOf(env: Record<string, string | undefined>): "gzip" | "none" {
  const value = (env.OTEL_EXPORTER_OTLP_TRACES_COMPRESSION ?? env.OTEL_EXPORTER_OTLP_COMPRESSION ?? "").trim();
  return value.toLowerCase() === "gzip" ? "gzip" : "none";
}

export function batchLimits(env: Record<string, string | undefined>): BatchLimits {
  const read = (name: string, fallback: number, min: number) => {
    const value = Number(env[name]?.trim() || Number.NaN);
    return Number.isInteger(value) && value >= min ? value : fallback;
  };
  const maxQueueSize = read("OTEL_BSP_MAX_QUEUE_SIZE", DEFAULTS.maxQueueSize, 1);
  return {
    scheduleDelayMs: read("OTEL_BSP_SCHEDULE_DELAY", DEFAULTS.scheduleDelayMs, 1),
    exportTimeoutMs: read("OTEL_BSP_EXPORT_TIMEOUT", DEFAULTS.exportTimeoutMs, 1),
    maxQueueSize,
    // The spec: a batch larger than the queue is the queue.
    maxBatchSize: Math.min(read("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", DEFAULTS.maxBatchSize, 1), maxQueueSize),
  };
}

export class BatchExporter {
  readonly limits: BatchLimits;
  private readonly encode: (spans: readonly FinishedSpan[]) => Uint8Array<ArrayBuffer>;
  private readonly gzip: boolean;
  private queue: FinishedSpan[] = [];
  private sending: Promise<void> | undefined;
  private readonly timer: ReturnType<typeof setInterval>;
  /** Spans dropped because the queue was full, since start. */
  dropped = 0;
  exported = 0;
  /** Set while exports fail, so the log gets one line per outage, not one per batch. */
  private failing = false;
  /** When a full queue was last reported: at most one line per DROP_LOG_INTERVAL_MS. */
  private dropLoggedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: ExportOptions) {
    this.limits = batchLimits(options.env ?? process.env);
    this.gzip = compressionOf(options.env ?? process.env) === "gzip";
    this.encode = createEncoder(options.resource, options.scope);
    this.timer = setInterval(() => void this.flush(), this.limits.scheduleDelayMs);
    this.timer.unref();
  }

  /** The request path's only cost: one array push, and a flush started when a batch is full. */
  push(span: FinishedSpan): void {
    if (this.queue.length >= this.limits.maxQueueSize) {
      this.dropped++;
      if (Date.now() - this.dropLoggedAt > DROP_LOG_INTERVAL_MS) {
        this.dropLoggedAt = Date.now();
        const { maxQueueSize } = this.limits;
        this.options.log("warn", `OTLP: span queue full (${maxQueueSize}); ${this.dropped} spans dropped so far`);
      }
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= this.limits.maxBatchSize && this.sending === undefined) void this.flush();
  }

  /** Sends everything queued now, batch by batch; resolves when done (never rejects). */
  flush(): Promise<void> {
    if (this.sending) return this.sending.then(() => (this.queue.length > 0 ? this.flush() : undefined));
    if (this.queue.length === 0) return Promise.resolve();
    this.sending = this.drain().finally(() => {
      this.sending = undefined;
    });
    return this.sending;
  }

  /** Daemon shutdown: stop the timer and send what is left, bounded by the export timeout. */
  async shutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    if (this.dropped > 0) this.options.log("warn", `OTLP: ${this.dropped} spans were dropped (queue full)`);
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.limits.maxBatchSize);
      await this.send(batch);
    }
  }

  private async send(batch: FinishedSpan[]): Promise<void> {
    const { url, headers, log } = this.options;
    try {
      const json = this.encode(batch);
      const type = { "content-type": "application/json", ...(this.gzip ? { "content-encoding": "gzip" } : {}) };
      const response = await fetch(url, {
        method: "POST",
        headers: { ...headers, ...type },
        body: this.gzip ? Bun.gzipSync(json, { level: GZIP_LEVEL }) : json,
        signal: AbortSignal.timeout(this.limits.exportTimeoutMs),
      });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`the collector answered ${response.status}`);
      this.exported += batch.length;
      if (this.failing) log("info", `OTLP: exporting to ${url} works again`);
      this.failing = false;
    } catch (error) {
      if (!this.failing) {
        log("warn", `OTLP: exporting spans to ${url} failed (${describe(error)}); retrying quietly with each batch`);
      }
      this.failing = true;
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
