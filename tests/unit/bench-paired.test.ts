/**
 * The bench's --pairs: tracing's cost as the median of pass-by-pass ratios with quartiles, from known req/s, and
 * the option's checks.
 */
import { describe, expect, test } from "bun:test";
import { parseOptions } from "../../bench/lib/options.ts";
import { type PairedCell, passRatios, quartiles } from "../../bench/lib/paired.ts";
import { type RunMeta, renderPairedJson, renderPairedMarkdown } from "../../bench/lib/report.ts";

function cell(rps: PairedCell["rps"]): PairedCell {
  return { proto: "http", size: "1k", load: "ka c=50", rps, foreignCpuPercent: 1.5 };
}

describe("bench pairs", () => {
  test("quartiles interpolate between order statistics, whatever the input order", () => {
    expect(quartiles([4, 1, 3, 2])).toEqual({ q1: 1.75, median: 2.5, q3: 3.25 });
    expect(quartiles([7])).toEqual({ q1: 7, median: 7, q3: 7 });
    expect(quartiles([5, 1, 9])).toEqual({ q1: 3, median: 5, q3: 7 });
  });

  test("each pass's ratio is over gotunnel's req/s in the same pass; passes one side lacks are left out", () => {
    const measured = cell({ gotunnel: [1000, 800, 900], "gotunnel-otel": [990, 760] });
    expect(passRatios(measured, "gotunnel-otel")).toEqual([0.99, 0.95]);
    expect(passRatios(measured, "gotunnel-otel-all")).toEqual([]);
    expect(passRatios(cell({ gotunnel: [0], "gotunnel-otel": [5] }), "gotunnel-otel")).toEqual([]);
  });

  test("the report gives each traced target's median pass ratio, quartiles and passes; the JSON the same", () => {
    const cells = [
      cell({
        gotunnel: [1000, 1000, 1000, 1000, 1000],
        "gotunnel-otel": [990, 970, 980, 1000, 960],
        "gotunnel-otel-all": [900, 950, 920, 940, 930],
      }),
    ];
    const meta = { pairs: 5, startedAt: "then", durationS: 3, warmupS: 1, wrkThreads: 1 } as RunMeta;
    const markdown = renderPairedMarkdown(meta, [{ name: "gotunnel", version: "gotunnel 0.1.0" }], cells);
    expect(markdown).toContain(
      "- http 1k ka c=50, gotunnel-otel: 0.980 (quartiles 0.970 to 0.990; passes: 0.99, 0.97, 0.98, 1.00, 0.96)",
    );
    expect(markdown).toContain("- http 1k ka c=50, gotunnel-otel-all: 0.930 (quartiles 0.920 to 0.940;");
    expect(markdown).toContain("5 passes per cell");
    expect(markdown).toContain("- http 1k ka c=50, gotunnel-otel: 980");
    expect(markdown).toContain("at most 1.5% of the machine's CPU");
    const json = JSON.parse(renderPairedJson(meta, [], cells));
    expect(json.paired[0].cell).toBe("http|1k|ka c=50");
    expect(json.paired[0].ratioToGotunnel["gotunnel-otel"]).toEqual({
      median: 0.98,
      q1: 0.97,
      q3: 0.99,
      passes: [0.99, 0.97, 0.98, 1, 0.96],
    });
    expect(json.paired[0].ratioToGotunnel["gotunnel-otel-all"].median).toBe(0.93);
  });

  test("--pairs takes a positive count and needs gotunnel and a traced variant among the targets", () => {
    expect(parseOptions(["--pairs", "8"])?.pairs).toBe(8);
    expect(parseOptions([])?.pairs).toBe(0);
    expect(() => parseOptions(["--pairs", "0"])).toThrow("--pairs must be a positive integer");
    expect(() => parseOptions(["--pairs", "4", "--only", "gotunnel,nginx"])).toThrow(
      "--only must name gotunnel and one of them",
    );
    expect(parseOptions(["--pairs", "4", "--only", "gotunnel,gotunnel-otel"])?.only).toContain("gotunnel-otel");
  });
});
