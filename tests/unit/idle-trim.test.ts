/**
 * The daemon's idle trim (src/daemon/idle-trim.ts) on a hand-driven clock: one trim per quiet spell, never while
 * requests keep coming, no timer while nothing happens, and none at all when turned off or stopped.
 */
import { describe, expect, test } from "bun:test";
import { IDLE_TRIM_ENV, IdleTrim, idleTrimQuietMs } from "../../src/daemon/idle-trim.ts";

/** A schedule the test fires by hand: the pending timers, each with its delay. */
function handClock() {
  const pending: { run: () => void; ms: number; cancelled: boolean }[] = [];
  return {
    schedule: (run: () => void, ms: number) => {
      const timer = { run, ms, cancelled: false };
      pending.push(timer);
      return () => {
        timer.cancelled = true;
      };
    },
    /** The timers armed and not yet fired or cancelled. */
    armed: () => pending.filter((timer) => !timer.cancelled),
    /** Fires the oldest armed timer, as its delay passing would. */
    fire() {
      const timer = pending.find((candidate) => !candidate.cancelled);
      if (!timer) throw new Error("no timer is armed");
      timer.cancelled = true;
      timer.run();
    },
  };
}

function subject(quietMs = 5_000) {
  const clock = handClock();
  let trims = 0;
  const trim = new IdleTrim({ quietMs, schedule: clock.schedule, trim: () => trims++ });
  return { clock, trim, trims: () => trims };
}

describe("IdleTrim", () => {
  test("nothing happened: no timer runs, nothing is trimmed", () => {
    const { clock, trims } = subject();
    expect(clock.armed()).toHaveLength(0);
    expect(trims()).toBe(0);
  });

  test("one touch, then quiet: one trim after the quiet time, and no timer left behind", () => {
    const { clock, trim, trims } = subject(5_000);
    trim.touch();
    expect(clock.armed().map((timer) => timer.ms)).toEqual([5_000]);
    clock.fire();
    expect(trims()).toBe(1);
    expect(clock.armed()).toHaveLength(0);
    expect(trim.stats()).toMatchObject({ quietMs: 5_000, count: 1 });
    expect(trim.stats().lastTookMs).toBeGreaterThanOrEqual(0);
  });

  test("requests during the quiet time start it over: no trim until a whole spell passes without one", () => {
    const { clock, trim, trims } = subject();
    trim.touch();
    for (let spell = 0; spell < 3; spell++) {
      trim.touch(); // a request while the timer is armed: one timer still, no new one per request
      expect(clock.armed()).toHaveLength(1);
      clock.fire();
      expect(trims()).toBe(0);
    }
    clock.fire();
    expect(trims()).toBe(1);
  });

  test("each quiet spell after activity trims once more; an idle daemon is not trimmed again and again", () => {
    const { clock, trim, trims } = subject();
    trim.touch();
    clock.fire();
    expect(clock.armed()).toHaveLength(0);
    trim.touch();
    clock.fire();
    expect(trims()).toBe(2);
    expect(clock.armed()).toHaveLength(0);
  });

  test("busy (a request in flight, a WebSocket bridged) defers the trim: it looks again each quiet time", () => {
    const clock = handClock();
    let trims = 0;
    let busy = true;
    const trim = new IdleTrim({ quietMs: 5_000, schedule: clock.schedule, trim: () => trims++, busy: () => busy });
    trim.touch();
    clock.fire();
    clock.fire();
    expect(trims).toBe(0);
    expect(clock.armed().map((timer) => timer.ms)).toEqual([5_000]);
    busy = false;
    clock.fire();
    expect(trims).toBe(1);
    expect(clock.armed()).toHaveLength(0);
  });

  test("stop cancels the armed timer and later touches arm none", () => {
    const { clock, trim, trims } = subject();
    trim.touch();
    trim.stop();
    expect(clock.armed()).toHaveLength(0);
    trim.touch();
    expect(clock.armed()).toHaveLength(0);
    expect(trims()).toBe(0);
  });

  test("a quiet time of 0 turns trimming off", () => {
    const { clock, trim } = subject(0);
    trim.touch();
    expect(clock.armed()).toHaveLength(0);
    expect(trim.stats()).toEqual({ quietMs: 0, count: 0, lastTookMs: undefined });
  });

  test(`${IDLE_TRIM_ENV} is read as milliseconds; anything else is ignored`, () => {
    expect(idleTrimQuietMs({ [IDLE_TRIM_ENV]: "250" })).toBe(250);
    expect(idleTrimQuietMs({ [IDLE_TRIM_ENV]: "0" })).toBe(0);
    expect(idleTrimQuietMs({ [IDLE_TRIM_ENV]: "5s" })).toBeUndefined();
    expect(idleTrimQuietMs({})).toBeUndefined();
  });

  test("the default trim is Bun.shrink, and it runs in this runtime", () => {
    const clock = handClock();
    const trim = new IdleTrim({ quietMs: 1, schedule: clock.schedule });
    trim.touch();
    clock.fire();
    expect(trim.stats().count).toBe(1);
  });
});
