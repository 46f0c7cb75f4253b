/**
 * The bench's --rounds: each cell reports its median round, whole, with every round's req/s alongside; a cell that
 * was skipped in some rounds uses the rounds that measured it.
 */
import { describe, expect, test } from "bun:test";
import { parseOptions } from "../../bench/lib/options.ts";
import { type CellResult, medianRounds } from "../../bench/lib/runner.ts";
import type { WrkResult } from "../../bench/lib/wrk.ts";

function cell(load: string, rps: number | undefined, p99Us = 0): CellResult {
  return {
    target: "gotunnel",
    proto: "http",
    size: "1k",
    load,
    connections: 50,
    newConnectionPerRequest: false,
    wrk: rps === undefined ? undefined : ({ rps, p99Us } as unknown as WrkResult),
    rssPeakKiB: 1,
    ...(rps === undefined ? { skipped: "did not run" } : {}),
  } as CellResult;
}

describe("bench rounds", () => {
  test("each cell takes its median round whole, and lists every round's req/s in run order", () => {
    const rounds = [
      [cell("ka", 300, 30), cell("new", 10)],
      [cell("ka", 100, 10), cell("new", 30)],
      [cell("ka", 200, 20), cell("new", 20)],
    ];
    const [ka, fresh] = medianRounds(rounds);
    expect(ka?.wrk?.rps).toBe(200);
    expect(ka?.wrk?.p99Us).toBe(20);
    expect(ka?.roundsRps).toEqual([300, 100, 200]);
    expect(fresh?.wrk?.rps).toBe(20);
  });

  test("an even count takes the lower middle; skipped rounds are left out; one round is returned as it is", () => {
    const [even] = medianRounds([[cell("ka", 400)], [cell("ka", 100)], [cell("ka", undefined)], [cell("ka", 300)]]);
    expect(even?.wrk?.rps).toBe(300);
    expect(even?.roundsRps).toEqual([400, 100, 300]);
    const [never] = medianRounds([[cell("ka", undefined)], [cell("ka", undefined)]]);
    expect(never?.skipped).toBe("did not run");
    const single = [cell("ka", 5)];
    expect(medianRounds([single])).toBe(single);
  });

  test("--rounds must be a positive integer; the default is one", () => {
    expect(parseOptions([])?.rounds).toBe(1);
    expect(parseOptions(["--rounds", "3"])?.rounds).toBe(3);
    expect(() => parseOptions(["--rounds", "0"])).toThrow("--rounds must be a positive integer");
    expect(() => parseOptions(["--rounds", "two"])).toThrow('got "two"');
  });
});
