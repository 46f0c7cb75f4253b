/**
 * The CA's and the leaves' lifecycle: the expiry warning (caHealth), and the renewal watcher the daemon runs, with
 * its wake detection (a tick whose wall-clock gap is far larger than its monotonic gap). Clocks and timers are
 * injected; no test waits for real time.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DAY_MS, type LocalCA, loadOrCreateCA } from "../../src/tls/ca.ts";
import { issuerFor } from "../../src/tls/leaf.ts";
import { CA_EXPIRY_WARNING_DAYS, caHealth } from "../../src/tls/lifecycle.ts";
import {
  CertificateStore,
  RENEW_BEFORE_DAYS,
  type RenewalReason,
  WAKE_JUMP_MS,
  watchRenewal,
} from "../../src/tls/store.ts";

const NOW = new Date("2026-03-01T12:00:00.000Z");
let dir: string;
let ca: LocalCA;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gotunnel-lifecycle-"));
  ca = (await loadOrCreateCA(join(dir, "ca"), { now: NOW })).ca;
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("caHealth", () => {
  test("no warning with 30 days or more left; a warning naming `gotunnel ca rotate` below that, and once expired", () => {
    const at = (daysLeft: number) => new Date(ca.notAfter.getTime() - daysLeft * DAY_MS);
    expect(caHealth(ca, at(CA_EXPIRY_WARNING_DAYS))).toEqual({ daysLeft: 30 });
    const soon = caHealth(ca, at(12.5));
    expect(soon.daysLeft).toBe(12);
    expect(soon.warning).toContain("expires in 12 day(s)");
    expect(soon.warning).toContain("gotunnel ca rotate");
    const expired = caHealth(ca, at(-2));
    expect(expired.daysLeft).toBe(-2);
    expect(expired.warning).toContain("expired");
    expect(caHealth(ca, NOW).daysLeft).toBe(3650);
  });
});

/** A watcher on fake clocks; tick() advances both clocks and runs one check. */
function harness(store: CertificateStore) {
  let wall = NOW.getTime();
  let monotonic = 0;
  const due: RenewalReason[] = [];
  const wakes: number[] = [];
  let stopped = false;
  const watcher = watchRenewal(store, {
    onDue: (reason) => {
      due.push(reason);
    },
    onWake: (jump) => wakes.push(jump),
    onError: (error) => {
      throw error;
    },
    wallNow: () => wall,
    monotonicNow: () => monotonic,
    every: () => () => {
      stopped = true;
    },
  });
  return {
    due,
    wakes,
    stopped: () => stopped,
    watcher,
    async tick(wallMs: number, monotonicMs = wallMs) {
      wall += wallMs;
      monotonic += monotonicMs;
      await watcher.check();
    },
  };
}

describe("watchRenewal", () => {
  test("quiet while leaves are fresh; 'timer' once a leaf is within RENEW_BEFORE_DAYS of expiry", async () => {
    let now = NOW;
    const store = new CertificateStore(ca, { issue: issuerFor(ca), now: () => now });
    const [entry] = await store.entriesFor([{ name: "a.local", wildcard: false }]);
    expect(entry).toBeDefined();
    const h = harness(store);
    await h.tick(60_000);
    expect(h.due).toEqual([]);
    const renewAt = (await store.nextRenewalAt())!.getTime();
    now = new Date(renewAt + 1000);
    await h.tick(60_000);
    expect(h.due).toEqual(["timer"]);
    expect(h.wakes).toEqual([]);
    h.watcher.stop();
    expect(h.stopped()).toBe(true);
  });

  test("a laptop that slept past the renewal date: the wall clock jumps, the tick says 'wake'", async () => {
    let now = NOW;
    const store = new CertificateStore(ca, { issue: issuerFor(ca), now: () => now });
    await store.entriesFor([{ name: "b.local", wildcard: false }]);
    const h = harness(store);
    const sleptMs = 400 * DAY_MS; // longer than the leaf's whole life
    now = new Date(NOW.getTime() + sleptMs);
    await h.tick(sleptMs, 60_000); // monotonic time stood still while suspended
    expect(h.wakes).toHaveLength(1);
    expect(h.wakes[0]!).toBeGreaterThan(WAKE_JUMP_MS);
    expect(h.due).toEqual(["wake"]);
    // After the daemon renewed (tlsEntries), the next tick is quiet again.
    await store.entriesFor([{ name: "b.local", wildcard: false }]);
    await h.tick(60_000);
    expect(h.due).toEqual(["wake"]);
  });

  test("a wake with nothing due is reported to onWake only; a small drift is not a wake", async () => {
    const store = new CertificateStore(ca, { issue: issuerFor(ca), now: () => NOW });
    await store.entriesFor([{ name: "c.local", wildcard: false }]);
    const h = harness(store);
    await h.tick(60_000 + WAKE_JUMP_MS / 2, 60_000);
    expect(h.wakes).toEqual([]);
    await h.tick(3 * 60 * 60_000, 60_000);
    expect(h.wakes).toEqual([3 * 60 * 60_000 - 60_000]);
    expect(h.due).toEqual([]);
  });

  test("the clock set back before a leaf's notBefore makes it due (clients would reject a leaf from the future)", async () => {
    let now = NOW;
    const store = new CertificateStore(ca, { issue: issuerFor(ca), now: () => now });
    await store.entriesFor([{ name: "d.local", wildcard: false }]);
    expect(await store.renewalDue()).toBe(false);
    now = new Date(NOW.getTime() - 2 * DAY_MS);
    expect(await store.renewalDue()).toBe(true);
    expect(RENEW_BEFORE_DAYS).toBe(30);
  });
});
