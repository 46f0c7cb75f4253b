/**
 * The bench's h2 cells (issue 16): every run, --quick included, ends with h2load at 50 connections × 10 streams on
 * the HTTPS port; h2load's counts map onto wrk's error kinds and its per-request log gives the percentiles; the
 * table shows the cell and every proxy's CPU per request next to nginx's.
 */
import { describe, expect, test } from "bun:test";
import { parseH2load } from "../../bench/lib/h2load.ts";
import { buildCells, schemeOf } from "../../bench/lib/matrix.ts";
import { type RunMeta, renderMarkdown } from "../../bench/lib/report.ts";
import type { CellResult } from "../../bench/lib/runner.ts";
import type { WrkResult } from "../../bench/lib/wrk.ts";

const SUMMARY = `finished in 5.00s, 9000.00 req/s, 9.00MB/s
requests: 45500 total, 46000 started, 45500 done, 45480 succeeded, 20 failed, 12 errored, 2 timeout
status codes: 45480 2xx, 0 3xx, 8 4xx, 0 5xx`;

describe("bench h2 cells", () => {
  test("the full matrix and --quick both end with one h2 cell: 1 KiB, 50 connections × 10 streams, on HTTPS", () => {
    for (const quick of [false, true]) {
      const h2 = buildCells(quick).filter((cell) => cell.proto === "h2");
      expect(h2).toEqual([
        { proto: "h2", size: "1k", load: { label: "c=50 ×10 streams", connections: 50, close: false, streams: 10 } },
      ]);
      expect(buildCells(quick).at(-1)?.proto).toBe("h2");
    }
    expect(schemeOf("h2")).toBe("https");
  });

  test("h2load's counts: failed = errored (timeouts among them) + HTTP failures; in-flight ones are not errors", () => {
    const latencies = Float64Array.from({ length: 100 }, (_, i) => (i + 1) * 10);
    const result = parseH2load(SUMMARY, latencies, 5);
    expect(result.requests).toBe(45500);
    expect(result.rps).toBe(9100);
    expect(result.errors).toEqual({ connect: 0, read: 10, write: 0, timeout: 2, status: 8 });
    expect(result.errorsTotal).toBe(20);
    expect([result.p50Us, result.p90Us, result.p99Us, result.maxUs]).toEqual([500, 900, 990, 1000]);
    expect(() => parseH2load("no summary", latencies, 5)).toThrow("h2load printed no summary");
  });

  test("the table has an H2 row per target and CPU per request with its ratio to nginx", () => {
    const row = (target: "nginx" | "gotunnel", rps: number, cpu: number): CellResult => ({
      target,
      proto: "h2",
      size: "1k",
      load: "c=50 ×10 streams",
      connections: 50,
      newConnectionPerRequest: false,
      wrk: { rps, p50Us: 1000, p99Us: 2000, errors: {}, errorsTotal: 0 } as unknown as WrkResult,
      rssPeakKiB: 1024,
      cpuUsPerRequest: cpu,
    });
    const markdown = renderMarkdown(
      { rounds: 1, quietWaitedS: 0 } as RunMeta,
      [],
      [row("nginx", 20_000, 20), row("gotunnel", 10_000, 50)],
    );
    expect(markdown).toContain("| peak RSS | CPU/req |");
    expect(markdown).toContain("| H2 | 1 KiB | c=50 ×10 streams | gotunnel | 10,000 (– / 0.50) |");
    expect(markdown).toContain("| 1.0 MiB (– / 1.00) | 50.0 µs (– / 2.50) |");
  });
});
