import { describe, expect, test } from "bun:test";
import { MAX_CHECK_MS, MIN_CHECK_MS, nextCheckMs, startFdGuard } from "../../src/daemon/fd-guard.ts";
import { parseProcLimits } from "../../src/platform/fd-limit.ts";

describe("parseProcLimits", () => {
  test("reads the soft and hard open-file limits of proc(5)'s limits table", () => {
    const text = [
      "Limit                     Soft Limit           Hard Limit           Units     ",
      "Max processes             127431               127431               processes ",
      "Max open files            1024                 524288               files     ",
    ].join("\n");
    expect(parseProcLimits(text)).toEqual({ soft: 1024, hard: 524288 });
    expect(parseProcLimits(text.replace("524288 ", "unlimited"))).toEqual({ soft: 1024, hard: "unlimited" });
    expect(
      parseProcLimits("Max open files            unlimited            unlimited            files"),
    ).toBeUndefined();
  });
});

describe("startFdGuard", () => {
  test("sheds idle connections from 90% of the limit on, and logs once per episode", async () => {
    let open = 100;
    let sheds = 0;
    const logs: string[] = [];
    const guard = startFdGuard({
      probe: { limit: { soft: 1000, hard: 1000 }, openFiles: () => open },
      shed: () => {
        sheds++;
        return 7;
      },
      log: (level, message) => logs.push(`${level} ${message}`),
    });
    try {
      expect(logs).toEqual(["info open-file limit 1000 (hard 1000): idle connections are closed from 900 open files"]);
      await Bun.sleep(600);
      expect(sheds).toBe(0);
      open = 950;
      await Bun.sleep(600);
      expect(sheds).toBeGreaterThanOrEqual(2);
      expect(logs.filter((line) => line.startsWith("warn"))).toEqual([
        expect.stringContaining("warn 950 of 1000 open files in use: closed 7 idle connections"),
      ]);
      open = 700;
      await Bun.sleep(400);
      open = 990;
      await Bun.sleep(400);
      expect(logs.filter((line) => line.startsWith("warn"))).toHaveLength(2);
    } finally {
      guard.stop();
    }
  });
});

describe("how often the guard counts", () => {
  test("the wait follows the room left before shedding: short near the limit, a few seconds far from it", () => {
    expect(nextCheckMs(100, 900)).toBe(MIN_CHECK_MS); // a 1024-ish limit: as often as before
    expect(nextCheckMs(100, 18_000)).toBe(895); // 17,900 descriptors at 20,000 a second
    expect(nextCheckMs(100, 471_859)).toBe(MAX_CHECK_MS); // 90% of Linux's usual hard limit, 524288
    expect(nextCheckMs(950, 900)).toBe(MIN_CHECK_MS); // over the threshold already
  });

  async function countsInOneSecond(limit: number): Promise<number> {
    let counts = 0;
    const guard = startFdGuard({
      probe: {
        limit: { soft: limit, hard: limit },
        openFiles: () => {
          counts++;
          return 100;
        },
      },
      shed: () => 0,
      log: () => undefined,
    });
    await Bun.sleep(1_100);
    guard.stop();
    return counts;
  }

  test("an idle daemon under a large limit counts once, not four times a second", async () => {
    const [small, large] = await Promise.all([countsInOneSecond(1000), countsInOneSecond(524_288)]);
    expect(small).toBeGreaterThanOrEqual(4);
    expect(large).toBe(1);
  });
});
