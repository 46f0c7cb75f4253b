/**
 * The bench's --rounds: each cell reports its median round, whole, with every round's req/s alongside; a cell that
 * was skipped in some rounds uses the rounds that measured it.
 */
import { describe, expect, test } from "bun:test";
import { parseOptions, type TargetName } from "../../bench/lib/options.ts";
import { type RunMeta, renderJson, renderMarkdown } from "../../bench/lib/report.ts";
import { type CellResult, medianRounds } from "../../bench/lib/runner.ts";
import type { WrkResult } from "../../bench/lib/wrk.ts";

function cell(load: string, rps: number | undefined, p99Us = 0, target: TargetName = "gotunnel"): CellResult {
  return {
    target,
    proto: "http",
    size: "1k",
    load,
    connections: 50,
    newConnectionPerRequest: false,
    wrk: rps === undefined ? undefined : ({ rps, p99Us, errors: {} } as unknown as WrkResult),
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

  test("the report gives tracing's cost per cell: median rounds' ratio, then each round's", () => {
    const rows = (target: TargetName, rps: number[]) =>
      medianRounds(rps.map((value) => [cell("ka", value, 0, target)]))[0] as CellResult;
    const results = [
      rows("gotunnel", [1000, 800, 900]),
      rows("gotunnel-otel", [990, 790, 880]),
      rows("gotunnel-otel-all", [920, 760, 810]),
    ];
    const meta = { rounds: 3, quietWaitedS: 0 } as RunMeta;
    const markdown = renderMarkdown(meta, [], results);
    expect(markdown).toContain("- http 1k ka, gotunnel-otel: 0.98 (rounds: 0.99, 0.99, 0.98)");
    expect(markdown).toContain("- http 1k ka, gotunnel-otel-all: 0.90 (rounds: 0.92, 0.95, 0.90)");
    const cells = JSON.parse(renderJson(meta, [], results)).cells;
    expect(cells.map((row: { ratioToGotunnel?: { rps: number } }) => row.ratioToGotunnel?.rps)).toEqual([
      undefined,
      0.978,
      0.9,
    ]);
    // Without gotunnel in the run there is no cost to show.
    expect(renderMarkdown(meta, [], results.slice(1))).not.toContain("Tracing's cost");
  });

  test("--rounds must be a positive integer; the default is one", () => {
    expect(parseOptions([])?.rounds).toBe(1);
    expect(parseOptions(["--rounds", "3"])?.rounds).toBe(3);
    expect(() => parseOptions(["--rounds", "0"])).toThrow("--rounds must be a positive integer");
    expect(() => parseOptions(["--rounds", "two"])).toThrow('got "two"');
  });
});
