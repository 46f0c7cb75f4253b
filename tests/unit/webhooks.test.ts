/**
 * Webhook delivery without sockets: the signature (a published HMAC-SHA256 vector), the retry schedule and its bound,
 * which answers are retried, the bounded queue dropping its oldest delivery (counted and logged), the cap on
 * deliveries in flight, and which events each kind of route change produces.
 */
import { describe, expect, test } from "bun:test";
import { WEBHOOK_EVENTS } from "../../src/config/notify.ts";
import type { RouteRecord } from "../../src/daemon/state.ts";
import { RouteEvents } from "../../src/daemon/webhooks/events.ts";
import type { Notifier } from "../../src/daemon/webhooks/notifier.ts";
import { signature } from "../../src/daemon/webhooks/payload.ts";
import {
  type AttemptResult,
  type Clock,
  type Delivery,
  DeliveryQueue,
  type DeliveryRecord,
  MAX_ATTEMPTS,
  MAX_IN_FLIGHT,
} from "../../src/daemon/webhooks/queue.ts";

class FakeClock implements Clock {
  ms = 0;
  private timers: { at: number; fn: () => void }[] = [];
  now = () => this.ms;
  setTimer = (fn: () => void, ms: number) => {
    const timer = { at: this.ms + ms, fn };
    this.timers.push(timer);
    return timer;
  };
  clearTimer = (timer: unknown) => {
    this.timers = this.timers.filter((item) => item !== timer);
  };
  /** Moves time forward, firing due timers, and lets the queue's promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.ms + ms;
    for (;;) {
      await settle();
      const due = this.timers.filter((timer) => timer.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.ms = due.at;
      this.clearTimer(due);
      due.fn();
    }
    this.ms = end;
    await settle();
  }
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function delivery(id: string): Delivery {
  return {
    id,
    event: "route.up",
    url: "http://127.0.0.1:1/h",
    secret: "s".repeat(16),
    body: "{}",
    attempt: 0,
    dueAtMs: 0,
  };
}

function queueWith(answers: (delivery: Delivery) => AttemptResult | Promise<AttemptResult>, capacity?: number) {
  const clock = new FakeClock();
  const records: DeliveryRecord[] = [];
  const sent: { id: string; at: number; attempt: number }[] = [];
  const queue = new DeliveryQueue({
    clock,
    ...(capacity === undefined ? {} : { capacity }),
    record: (record) => records.push(record),
    send: async (item) => {
      sent.push({ id: item.id, at: clock.ms, attempt: item.attempt });
      return answers(item);
    },
  });
  return { clock, records, sent, queue };
}

describe("signature", () => {
  test("is HMAC-SHA256 in lower-case hex after sha256= (RFC 4231-style vector)", () => {
    // The widely published HMAC-SHA256 example: key "key", message "The quick brown fox jumps over the lazy dog".
    expect(signature("key", "The quick brown fox jumps over the lazy dog")).toBe(
      "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",
    );
  });
});

describe("DeliveryQueue", () => {
  test("a 5xx is retried after 1, 2, 4 and 8 s, then given up: five attempts in all", async () => {
    const { clock, records, sent, queue } = queueWith(() => ({ ok: false, retry: true, status: 503 }));
    queue.enqueue(delivery("a"));
    await clock.advance(60_000);
    expect(sent.map((item) => [item.at, item.attempt])).toEqual([
      [0, 1],
      [1000, 2],
      [3000, 3],
      [7000, 4],
      [15000, 5],
    ]);
    expect(sent).toHaveLength(MAX_ATTEMPTS);
    expect(records.map((record) => [record.outcome, record.attempt, record.retryInMs])).toEqual([
      ["retrying", 1, 1000],
      ["retrying", 2, 2000],
      ["retrying", 3, 4000],
      ["retrying", 4, 8000],
      ["failed", 5, undefined],
    ]);
    expect(queue.counts).toEqual({ delivered: 0, retried: 4, failed: 1, dropped: 0 });
  });

  test("500 then 200: delivered on the second attempt, one second later", async () => {
    let calls = 0;
    const { clock, records, queue } = queueWith(() =>
      ++calls === 1 ? { ok: false, retry: true, status: 500 } : { ok: true, retry: false, status: 200 },
    );
    queue.enqueue(delivery("a"));
    await clock.advance(999);
    expect(records.map((record) => record.outcome)).toEqual(["retrying"]);
    await clock.advance(1);
    expect(records.map((record) => [record.outcome, record.attempt, record.status])).toEqual([
      ["retrying", 1, 500],
      ["delivered", 2, 200],
    ]);
  });

  test("a thrown send (network error) is retried; a final answer (404) is not", async () => {
    const { clock, records, queue } = queueWith((item) => {
      if (item.id === "net" && item.attempt === 1) throw new Error("connection refused");
      return item.id === "net" ? { ok: true, retry: false, status: 204 } : { ok: false, retry: false, status: 404 };
    });
    queue.enqueue(delivery("net"));
    queue.enqueue(delivery("gone"));
    await clock.advance(10_000);
    expect(records.map((record) => [record.id, record.outcome, record.error ?? record.status])).toEqual([
      ["net", "retrying", "Error: connection refused"],
      ["gone", "failed", 404],
      ["net", "delivered", 204],
    ]);
  });

  test("past its capacity the queue drops its oldest waiting delivery, counts it and says so", async () => {
    const never = new Promise<AttemptResult>(() => undefined);
    const { records, queue } = queueWith(() => never, 3);
    for (let i = 0; i < MAX_IN_FLIGHT + 5; i++) queue.enqueue(delivery(`d${i}`));
    await settle();
    // MAX_IN_FLIGHT are in flight (never answered), 3 wait; the two oldest waiting ones were dropped.
    expect(queue.depth).toBe(3);
    expect(queue.counts.dropped).toBe(2);
    expect(records.map((record) => [record.id, record.outcome])).toEqual([
      [`d${MAX_IN_FLIGHT}`, "dropped"],
      [`d${MAX_IN_FLIGHT + 1}`, "dropped"],
    ]);
  });

  test("at most MAX_IN_FLIGHT attempts run at once; drained() waits for the rest, bounded", async () => {
    const pending: (() => void)[] = [];
    const { clock, sent, queue } = queueWith(
      () =>
        new Promise<AttemptResult>((resolve) => pending.push(() => resolve({ ok: true, retry: false, status: 200 }))),
    );
    for (let i = 0; i < 10; i++) queue.enqueue(delivery(`d${i}`));
    await settle();
    expect(sent).toHaveLength(MAX_IN_FLIGHT);
    let drained = false;
    void queue.drained(5_000).then(() => {
      drained = true;
    });
    while (pending.length > 0) {
      pending.shift()?.();
      await settle();
    }
    expect(sent).toHaveLength(10);
    expect(drained).toBe(true);
    void clock;
  });
});

describe("RouteEvents", () => {
  const hook = { url: "http://127.0.0.1:1/h", secret: "s".repeat(16), events: [...WEBHOOK_EVENTS] };
  function record(name: string, port: number, notify = [hook]): RouteRecord {
    return {
      name,
      wildcard: false,
      target: { protocol: "http:", hostname: "localhost", port, origin: `http://localhost:${port}` },
      https: true,
      headers: {},
      preserveHost: true,
      notify,
      owner: { kind: "command", cwd: "/" },
      persistent: false,
      addedAt: new Date(0).toISOString(),
    };
  }

  function events(served: () => RouteRecord[], probe?: (host: string, port: number) => Promise<boolean>, days = 365) {
    const published: { event: string; name?: string; reason?: string; to: number }[] = [];
    const notifier = {
      publish: (data: { event: string; route?: { name: string }; reason?: string }, webhooks: readonly unknown[]) =>
        published.push({ event: data.event, name: data.route?.name, reason: data.reason, to: webhooks.length }),
    } as unknown as Notifier;
    const ca = { path: "/ca.pem", notAfter: new Date(Date.now() + days * 86_400_000) };
    const watcher = new RouteEvents({
      notifier,
      served,
      urlOf: (route) => `https://${route.name}`,
      ca,
      ...(probe ? { probe } : {}),
    });
    return { watcher, published };
  }

  test("added, changed and removed routes give route.up and route.down with the reason, to each route's webhooks", () => {
    const { watcher, published } = events(() => []);
    watcher.routesChanged(
      [record("a.local", 1), record("b.local", 2)],
      [record("b.local", 3), record("c.local", 4, [])],
    );
    expect(published).toEqual([
      { event: "route.down", name: "a.local", reason: "removed", to: 1 },
      { event: "route.up", name: "b.local", reason: "changed", to: 1 },
      { event: "route.up", name: "c.local", reason: "added", to: 0 },
    ]);
  });

  test("upstream events: down at the first probe if so, then each change of state", async () => {
    let up = true;
    const { watcher, published } = events(
      () => [record("a.local", 1)],
      async () => up,
    );
    await watcher.probeUpstreams();
    expect(published).toEqual([]);
    up = false;
    await watcher.probeUpstreams();
    await watcher.probeUpstreams();
    up = true;
    await watcher.probeUpstreams();
    expect(published.map((item) => item.event)).toEqual(["upstream.down", "upstream.up"]);
  });

  test("certificate.expiring once per webhook while the CA has under 30 days, never with more", () => {
    const soon = events(() => [record("a.local", 1), record("b.local", 2)], undefined, 10);
    soon.watcher.routesChanged([], []);
    soon.watcher.routesChanged([], []);
    expect(soon.published.filter((item) => item.event === "certificate.expiring")).toEqual([
      { event: "certificate.expiring", name: undefined, reason: undefined, to: 1 },
    ]);
    const later = events(() => [record("a.local", 1)], undefined, 31);
    later.watcher.routesChanged([], []);
    expect(later.published).toEqual([]);
  });
});
