/**
 * Turns events into deliveries, one per webhook that asked for the event, and sends them: an HTTP POST of the signed
 * body (payload.ts) through the queue (queue.ts). The last deliveries' outcomes are kept for `gotunnel logs
 * --webhooks`, and counted for /metrics.
 */
import { uniqueWebhooks, type Webhook } from "../../config/notify.ts";
import { buildInfo } from "../../core/build-info.ts";
import { redactSecrets } from "../../core/redact.ts";
import type { Family } from "../../telemetry/prometheus.ts";
import {
  ATTEMPT_HEADER,
  DELIVERY_HEADER,
  EVENT_HEADER,
  type EventData,
  eventBody,
  SIGNATURE_HEADER,
  signature,
} from "./payload.ts";
import { type AttemptResult, type Clock, type Delivery, DeliveryQueue, type DeliveryRecord } from "./queue.ts";

/** A receiver gets this long to answer one attempt; a slow one is retried like a down one. */
export const ATTEMPT_TIMEOUT_MS = 10_000;
/** Outcomes `gotunnel logs --webhooks` can show. A record is a few hundred bytes. */
export const DELIVERY_LOG_CAPACITY = 200;

export interface NotifierOptions {
  fetch?: typeof fetch;
  clock?: Clock;
  /** Failures worth a line in the daemon log (a delivery given up, the queue dropping one). */
  log?(level: "info" | "warn", message: string): void;
}

export class Notifier {
  private readonly records: DeliveryRecord[] = [];
  private readonly queue: DeliveryQueue;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: NotifierOptions = {}) {
    this.fetch = options.fetch ?? fetch;
    this.queue = new DeliveryQueue({
      send: (delivery) => this.send(delivery),
      record: (record) => this.remember(record),
      ...(options.clock ? { clock: options.clock } : {}),
    });
  }

  /** Queues the event for each of `webhooks` that asked for it; returns at once. */
  publish(data: EventData, webhooks: readonly Webhook[], now = new Date()): void {
    for (const webhook of uniqueWebhooks(webhooks)) {
      if (!webhook.events.includes(data.event)) continue;
      const id = crypto.randomUUID();
      const { url, secret } = webhook;
      const body = eventBody(data, id, now);
      this.queue.enqueue({ id, event: data.event, url, secret, body, attempt: 0, dueAtMs: 0 });
    }
  }

  /** The newest `limit` outcomes, oldest first. */
  deliveries(limit = DELIVERY_LOG_CAPACITY): DeliveryRecord[] {
    return this.records.slice(-limit);
  }

  stats() {
    return { ...this.queue.counts, queued: this.queue.depth };
  }

  /** Shutdown: resolves once every delivery is done, or after `timeoutMs`. */
  drained(timeoutMs: number): Promise<void> {
    return this.queue.drained(timeoutMs);
  }

  families(): Family[] {
    const { queued, ...counts } = this.stats();
    return [
      {
        name: "gotunnel_webhook_deliveries_total",
        help: "Webhook delivery outcomes: delivered, retried (an attempt failed and another follows), failed, dropped (queue full).",
        type: "counter",
        samples: Object.entries(counts).map(([outcome, value]) => ({ labels: { outcome }, value })),
      },
      {
        name: "gotunnel_webhook_queue_depth",
        help: "Webhook deliveries waiting to be sent or retried.",
        type: "gauge",
        samples: [{ value: queued }],
      },
    ];
  }

  private async send(delivery: Delivery): Promise<AttemptResult> {
    try {
      const response = await this.fetch(delivery.url, {
        method: "POST",
        body: delivery.body,
        redirect: "manual",
        signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
        headers: {
          "content-type": "application/json",
          "user-agent": `gotunnel/${buildInfo().version}`,
          [EVENT_HEADER]: delivery.event,
          [DELIVERY_HEADER]: delivery.id,
          [ATTEMPT_HEADER]: String(delivery.attempt),
          [SIGNATURE_HEADER]: signature(delivery.secret, delivery.body),
        },
      });
      // The answer's body means nothing to us; reading it would only let a receiver hold the attempt open.
      await response.body?.cancel();
      const { status } = response;
      const ok = status >= 200 && status < 300;
      return { ok, retry: !ok && (status === 408 || status === 429 || status >= 500), status };
    } catch (error) {
      const timedOut = error instanceof Error && error.name === "TimeoutError";
      const message = timedOut ? `no answer within ${ATTEMPT_TIMEOUT_MS / 1000} s` : describe(error);
      return { ok: false, retry: true, error: message };
    }
  }

  private remember(record: DeliveryRecord): void {
    const shown = { ...record, url: redactSecrets(record.url) };
    this.records.push(shown);
    if (this.records.length > DELIVERY_LOG_CAPACITY) this.records.shift();
    if (record.outcome === "failed" || record.outcome === "dropped") {
      const why = record.error ?? `HTTP ${record.status}`;
      this.options.log?.("warn", `webhook ${record.event} to ${shown.url} ${record.outcome} (${why})`);
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
