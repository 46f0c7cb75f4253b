/**
 * Finished spans → batches → OTLP/HTTP POSTs (https://opentelemetry.io/docs/specs/otlp/#otlphttp), binary protobuf
 * by default or JSON, with the batch span processor's standard knobs (OTEL_BSP_*). Loaded only when an endpoint is
 * configured (tracing.ts). Request spans wait in request-spans.ts's columns and daemon-operation spans in a short
 * array; a full batch (or the schedule delay) encodes them into one reused buffer and sends it, one POST in flight at
 * a time. A full queue drops spans and counts them; a failing collector is logged once, never thrown to the proxy.
 */
import { createEncoder } from "./otlp-json.ts";
import { createPost, type OtlpPost } from "./otlp-post.ts";
import { createProtoEncoder } from "./otlp-proto.ts";
import { RequestSpans } from "./request-spans.ts";
import type { OtlpProtocol } from "./settings.ts";

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

/**
 * One export request's body from the `n` oldest request spans and the daemon-operation spans `others`. The bytes
 * live in a buffer the next call reuses: send them before encoding again.
 */
export type SpanEncoder = (
  requests: RequestSpans,
  n: number,
  others: readonly FinishedSpan[],
) => Uint8Array<ArrayBuffer>;

export interface ExportOptions {
  url: string;
  headers: Record<string, string>;
  resource: Record<string, AttributeValue>;
  scope: { name: string; version: string };
  log(level: "info" | "warn", message: string): void;
  env?: Record<string, string | undefined>;
  /** Default http/protobuf. */
  protocol?: OtlpProtocol;
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
  /** The proxy's server spans wait here (the request path's only cost: a few stores). */
  readonly requests: RequestSpans;
  private readonly encode: SpanEncoder;
  private readonly headers: Record<string, string>;
  private readonly gzip: boolean;
  private readonly post: OtlpPost;
  /** Daemon-operation spans (route add, certificate issue, …): a handful a minute. */
  private others: FinishedSpan[] = [];
  private sending: Promise<void> | undefined;
  /** A flush for a full batch is scheduled (setImmediate) but not started. */
  private scheduled = false;
  private readonly timer: ReturnType<typeof setInterval>;
  /** Daemon-operation spans dropped because the queue was full (request spans count in requests.dropped). */
  private othersDropped = 0;
  exported = 0;
  /** Set while exports fail, so the log gets one line per outage, not one per batch. */
  private failing = false;
  /** When a full queue was last reported: at most one line per DROP_LOG_INTERVAL_MS. */
  private dropLoggedAt = Number.NEGATIVE_INFINITY;
  private droppedLogged = 0;

  constructor(private readonly options: ExportOptions) {
    const env = options.env ?? process.env;
    this.limits = batchLimits(env);
    this.gzip = compressionOf(env) === "gzip";
    const json = options.protocol === "http/json";
    this.encode = json
      ? createEncoder(options.resource, options.scope)
      : createProtoEncoder(options.resource, options.scope);
    this.headers = {
      ...options.headers,
      "content-type": json ? "application/json" : "application/x-protobuf",
      ...(this.gzip ? { "content-encoding": "gzip" } : {}),
    };
    this.post = createPost(options.url);
    const { maxQueueSize, maxBatchSize } = this.limits;
    // A batch fills inside some request's finish(): encode and send it after that response is on its way.
    this.requests = new RequestSpans(maxQueueSize, maxBatchSize, () => {
      if (this.sending !== undefined || this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        void this.flush(false);
      });
    });
    this.timer = setInterval(() => void this.flush(true), this.limits.scheduleDelayMs);
    this.timer.unref();
  }

  /** Spans dropped because the queue was full, since start. */
  get dropped(): number {
    return this.requests.dropped + this.othersDropped;
  }

  private get queued(): number {
    return this.requests.count + this.others.length;
  }

  /** A daemon-operation span: queued with the request spans, under the same bound. */
  push(span: FinishedSpan): void {
    if (this.queued >= this.limits.maxQueueSize) {
      this.othersDropped++;
      return;
    }
    this.others.push(span);
    if (this.queued >= this.limits.maxBatchSize && this.sending === undefined) void this.flush(false);
  }

  /**
   * Sends what is queued, batch by batch: everything (`all`, the schedule delay and shutdown), or full batches only
   * (a batch just filled). Resolves when done; never rejects.
   */
  flush(all = true): Promise<void> {
    if (this.sending) return all ? this.sending.then(() => this.flush(true)) : this.sending;
    if (this.queued === 0 || (!all && this.queued < this.limits.maxBatchSize)) return Promise.resolve();
    this.sending = this.drain(all).finally(() => {
      this.sending = undefined;
    });
    return this.sending;
  }

  /** Daemon shutdown: stop the timer and send what is left, bounded by the export timeout. */
  async shutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.flush(true);
    this.post.close();
    if (this.dropped > 0) this.options.log("warn", `OTLP: ${this.dropped} spans were dropped (queue full)`);
  }

  private async drain(all: boolean): Promise<void> {
    const { maxBatchSize } = this.limits;
    while (this.queued > 0 && (all || this.queued >= maxBatchSize)) {
      this.logDrops();
      const n = Math.min(this.requests.count, maxBatchSize);
      const others = this.others.splice(0, maxBatchSize - n);
      const body = this.encode(this.requests, n, others);
      this.requests.release(n);
      await this.send(body, n + others.length);
    }
  }

  /** A full queue is reported from here, off the request path: at most one line per DROP_LOG_INTERVAL_MS. */
  private logDrops(): void {
    const dropped = this.dropped;
    if (dropped === this.droppedLogged || Date.now() - this.dropLoggedAt < DROP_LOG_INTERVAL_MS) return;
    this.dropLoggedAt = Date.now();
    this.droppedLogged = dropped;
    const { maxQueueSize } = this.limits;
    this.options.log("warn", `OTLP: span queue full (${maxQueueSize}); ${dropped} spans dropped so far`);
  }

  private async send(body: Uint8Array<ArrayBuffer>, spans: number): Promise<void> {
    const { url, log } = this.options;
    try {
      const payload = this.gzip ? Bun.gzipSync(body, { level: GZIP_LEVEL }) : body;
      const status = await this.post.send(payload, this.headers, this.limits.exportTimeoutMs);
      if (status < 200 || status > 299) throw new Error(`the collector answered ${status}`);
      this.exported += spans;
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
