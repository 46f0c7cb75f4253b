/**
 * The webhook delivery queue. Publishing an event only appends to an array, so nothing that publishes (a route
 * change, a probe) ever waits for a receiver. A bounded number of deliveries are in flight at once; one that fails
 * with a network error, a timeout, 408, 429 or a 5xx is retried with exponential backoff (1 s, 2 s, 4 s, 8 s: five
 * attempts in about 15 s), any other answer is final. Past QUEUE_CAPACITY waiting deliveries the oldest is dropped
 * and counted, so a receiver that is down for hours costs bounded memory. Clock and timers are parameters for tests.
 */
import type { WebhookEvent } from "../../config/notify.ts";

/** Deliveries waiting (to be sent, or for their retry); in-flight ones are not counted. */
export const QUEUE_CAPACITY = 256;
/** Receivers are other people's servers: a few at a time is plenty for a dev machine's events. */
export const MAX_IN_FLIGHT = 4;
/** The bound on retries: the first attempt and four more. */
export const MAX_ATTEMPTS = 5;
export const RETRY_BASE_DELAY_MS = 1_000;
export const RETRY_MAX_DELAY_MS = 60_000;

export interface Delivery {
  id: string;
  event: WebhookEvent;
  url: string;
  secret: string;
  /** The exact bytes sent, and signed, on every attempt. */
  body: string;
  /** Attempts made so far. */
  attempt: number;
  dueAtMs: number;
}

/** What one attempt came to: `retry` says whether another attempt could succeed. */
export interface AttemptResult {
  ok: boolean;
  retry: boolean;
  status?: number;
  error?: string;
}

export type DeliveryOutcome = "delivered" | "retrying" | "failed" | "dropped";

export interface DeliveryRecord {
  time: string;
  id: string;
  event: WebhookEvent;
  url: string;
  attempt: number;
  outcome: DeliveryOutcome;
  status?: number;
  error?: string;
  /** For `retrying`: when the next attempt is due, in milliseconds from `time`. */
  retryInMs?: number;
}

export interface Clock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(timer: unknown): void;
}

const REAL_CLOCK: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    // Only the queue waits on it: a stopping daemon must not.
    timer.unref();
    return timer;
  },
  clearTimer: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
};

export interface QueueOptions {
  send(delivery: Delivery): Promise<AttemptResult>;
  record(record: DeliveryRecord): void;
  clock?: Clock;
  capacity?: number;
}

export interface QueueCounts {
  delivered: number;
  retried: number;
  failed: number;
  dropped: number;
}

/** Retry `attempt + 1` waits base·2^(attempt−1), capped. */
export function retryDelayMs(attempt: number): number {
  return Math.min(RETRY_BASE_DELAY_MS * 2 ** (attempt - 1), RETRY_MAX_DELAY_MS);
}

export class DeliveryQueue {
  private readonly waiting: Delivery[] = [];
  private inFlight = 0;
  private timer: unknown;
  private idle: (() => void)[] = [];
  readonly counts: QueueCounts = { delivered: 0, retried: 0, failed: 0, dropped: 0 };
  private readonly clock: Clock;
  private readonly capacity: number;

  constructor(private readonly options: QueueOptions) {
    this.clock = options.clock ?? REAL_CLOCK;
    this.capacity = options.capacity ?? QUEUE_CAPACITY;
  }

  /** Deliveries waiting now (not in flight). */
  get depth(): number {
    return this.waiting.length;
  }

  /** Never waits and never throws: the caller may be on any path of the daemon. */
  enqueue(delivery: Delivery): void {
    if (this.waiting.length >= this.capacity) {
      const oldest = this.waiting.shift() as Delivery;
      this.counts.dropped++;
      this.note(oldest, "dropped", { error: `the queue held ${this.capacity} deliveries` });
    }
    this.waiting.push(delivery);
    this.pump();
  }

  /** Resolves once nothing waits or is in flight, or after `timeoutMs` (shutdown). */
  drained(timeoutMs: number): Promise<void> {
    if (this.waiting.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.clock.setTimer(resolve, timeoutMs);
      this.idle.push(() => {
        this.clock.clearTimer(timer);
        resolve();
      });
    });
  }

  private pump(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    const now = this.clock.now();
    while (this.inFlight < MAX_IN_FLIGHT) {
      const index = this.waiting.findIndex((delivery) => delivery.dueAtMs <= now);
      if (index === -1) break;
      const [delivery] = this.waiting.splice(index, 1);
      this.inFlight++;
      void this.attempt(delivery as Delivery);
    }
    if (this.inFlight < MAX_IN_FLIGHT && this.waiting.length > 0) {
      const next = Math.min(...this.waiting.map((delivery) => delivery.dueAtMs));
      this.timer = this.clock.setTimer(() => this.pump(), Math.max(0, next - now));
    }
    if (this.waiting.length === 0 && this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
  }

  private async attempt(delivery: Delivery): Promise<void> {
    delivery.attempt++;
    const result = await this.options
      .send(delivery)
      .catch((error: unknown): AttemptResult => ({ ok: false, retry: true, error: String(error) }));
    this.inFlight--;
    const facts = {
      ...(result.status === undefined ? {} : { status: result.status }),
      ...(result.error === undefined ? {} : { error: result.error }),
    };
    if (result.ok) {
      this.counts.delivered++;
      this.note(delivery, "delivered", facts);
    } else if (result.retry && delivery.attempt < MAX_ATTEMPTS) {
      const delay = retryDelayMs(delivery.attempt);
      this.counts.retried++;
      this.note(delivery, "retrying", { ...facts, retryInMs: delay });
      this.enqueue({ ...delivery, dueAtMs: this.clock.now() + delay });
      return;
    } else {
      this.counts.failed++;
      this.note(delivery, "failed", facts);
    }
    this.pump();
  }

  private note(delivery: Delivery, outcome: DeliveryOutcome, facts: Partial<DeliveryRecord>): void {
    const { id, event, url, attempt } = delivery;
    const time = new Date(this.clock.now()).toISOString();
    this.options.record({ time, id, event, url, attempt, outcome, ...facts });
  }
}
