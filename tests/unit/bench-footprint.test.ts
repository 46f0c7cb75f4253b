/**
 * The bench's memory table (bench/lib/footprint.ts memoryLines): one row per measured proxy, its idle figure, idle
 * CPU, the peaks of issue 18's cells and what it keeps after the load, each split by process where it has several.
 */
import { expect, test } from "bun:test";
import { memoryLines } from "../../bench/lib/footprint.ts";
import type { CellResult, TargetReport } from "../../bench/lib/runner.ts";

const KIB = 1024;

test("idle and after-load figures: split by process, with the PSS for several; a proxy without one gets a dash", () => {
  const targets: TargetReport[] = [
    {
      name: "gotunnel",
      idle: { totalKiB: 100 * KIB, roles: { daemon: 55 * KIB, client: 45 * KIB } },
      idleCpu: { total: 600, roles: { daemon: 400, client: 200 } },
      afterLoad: { totalKiB: 110 * KIB, roles: { daemon: 65 * KIB, client: 45 * KIB }, pssKiB: 70 * KIB },
    },
    { name: "nginx", idle: { totalKiB: 20 * KIB, roles: {}, pssKiB: 19 * KIB }, idleCpu: { total: 0, roles: {} } },
  ];
  const peak = { target: "gotunnel", proto: "https", size: "1k", load: "ka c=50", rssPeakKiB: 140 * KIB };
  const lines = memoryLines(targets, [peak as unknown as CellResult]);
  const header = lines.find((line) => line.startsWith("| proxy"));
  const columns = (line: string | undefined) => (line ?? "").split("|").map((cell) => cell.trim());
  const after = columns(header).indexOf("after load");
  expect(after).toBeGreaterThan(0);
  const row = (name: string) => columns(lines.find((line) => line.startsWith(`| ${name} |`)));
  // Several processes: their PSS too (the shared executable counted once); the idle figure has none measured.
  expect(row("gotunnel")[after]).toBe("110.0 MiB (daemon 65.0 + client 45.0; PSS 70.0)");
  expect(row("gotunnel")[columns(header).indexOf("idle after start")]).toBe("100.0 MiB (daemon 55.0 + client 45.0)");
  // One process: its VmRSS alone.
  expect(row("nginx")[columns(header).indexOf("idle after start")]).toBe("20.0 MiB");
  expect(row("gotunnel")[columns(header).indexOf("peak HTTPS 1 KiB ka c=50")]).toBe("140.0 MiB");
  expect(row("nginx")[after]).toBe("–");
  // Every row has as many cells as the header.
  expect(row("gotunnel")).toHaveLength(columns(header).length);
  expect(row("nginx")).toHaveLength(columns(header).length);
});
