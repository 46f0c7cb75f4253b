/**
 * The report's footprint sections (issue 18): each proxy's memory idle and at its peaks, per process where a target
 * names its processes (gotunnel: daemon and `up` client), and each start-up time.
 */

import type { FloorMemory } from "./floors.ts";
import { AFTER_LOAD_SETTLE_MS, type CellResult, type IdleMemory, type TargetReport } from "./runner.ts";
import type { StartupFigure } from "./startup.ts";

const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

/** "61.2 MiB (daemon 41.0 + client 20.2)": the sum, then each named process. */
function split(totalKiB: number, roles: Record<string, number> | undefined): string {
  const parts = Object.entries(roles ?? {});
  if (parts.length < 2) return mib(totalKiB);
  return `${mib(totalKiB)} (${parts.map(([role, kib]) => `${role} ${(kib / 1024).toFixed(1)}`).join(" + ")})`;
}

/** An idle figure: as split, and for a proxy of several processes their PSS, the pages they share counted once. */
function idleSplit(memory: IdleMemory): string {
  const text = split(memory.totalKiB, memory.roles);
  if (Object.keys(memory.roles).length < 2 || !memory.pssKiB) return text;
  // split wrote "(daemon … + client …)": the PSS goes inside, after the processes.
  return `${text.slice(0, -1)}; PSS ${(memory.pssKiB / 1024).toFixed(1)})`;
}

/** "812 (daemon 640 + client 172)": ms of CPU a minute, the sum, then each named process. */
function cpuSplit(total: number, roles: Record<string, number>): string {
  const parts = Object.entries(roles);
  if (parts.length < 2) return String(total);
  return `${total} (${parts.map(([role, ms]) => `${role} ${ms}`).join(" + ")})`;
}

/** The keep-alive HTTPS 1 KiB cells issue 18 sets bounds for, then any other cell's peak. */
const PEAK_CELLS = ["ka c=50", "ka c=500", "new conn c=50"];

export function memoryLines(targets: TargetReport[], results: CellResult[]): string[] {
  const measured = targets.filter((target) => target.idle);
  if (measured.length === 0) return [];
  const header = [
    "| proxy | idle after start | idle CPU, ms a minute | ",
    ...PEAK_CELLS.map((load) => `peak HTTPS 1 KiB ${load} | `),
    "after load | ",
  ].join("");
  const lines = [
    "Memory (VmRSS; per process where the proxy has several; each process's peak is its own, so the parts of a peak",
    "can add up to more than the peak of the sum). Idle: 2 s after start and one request, before any load. Idle CPU:",
    "user + system time in the 15 s (30 s without --quick) after that, as milliseconds of CPU per minute. After load:",
    `${AFTER_LOAD_SETTLE_MS / 1000} s after the last cell, what the proxy keeps until the next burst. PSS, for a proxy`,
    "of several processes: their proportional set sizes summed, so the pages they share (gotunnel's processes run one",
    "executable) count once; summed VmRSS counts them in each.",
    "",
    header.trimEnd(),
    `|---|---:|---:|${PEAK_CELLS.map(() => "---:|").join("")}---:|`,
  ];
  for (const target of measured) {
    const idle = target.idle as IdleMemory;
    const peaks = PEAK_CELLS.map((load) => {
      const cell = results.find(
        (row) => row.target === target.name && row.proto === "https" && row.size === "1k" && row.load === load,
      );
      return cell?.rssPeakKiB ? split(cell.rssPeakKiB, cell.rolesPeakKiB) : "–";
    });
    const cpu = target.idleCpu ? cpuSplit(target.idleCpu.total, target.idleCpu.roles) : "–";
    const after = target.afterLoad ? idleSplit(target.afterLoad) : "–";
    lines.push(`| ${target.name} | ${idleSplit(idle)} | ${cpu} | ${peaks.join(" | ")} | ${after} |`);
  }
  return [...lines, ""];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
}

export function startupLines(figures: StartupFigure[]): string[] {
  if (figures.length === 0) return [];
  const lines = ["Start-up, spawn → first 200 through the proxy (median of the samples; every sample listed):", ""];
  for (const figure of figures) {
    if (figure.skipped) lines.push(`- ${figure.label}: skipped (${figure.skipped})`);
    else {
      const each = figure.samplesMs.map((ms) => ms.toFixed(0)).join(", ");
      lines.push(`- ${figure.label}: ${median(figure.samplesMs).toFixed(0)} ms (${each})`);
    }
  }
  return [...lines, ""];
}

/** The memory floors (floors.ts), each the median of its samples, every sample listed. */
export function floorLines(floors: FloorMemory | undefined): string[] {
  if (!floors) return [];
  const lines = [
    "Memory floors, the smallest Bun programs doing only what one gotunnel process does natively (bench/lib/floors.ts;",
    "idle VmRSS and CPU as in the memory table, CPU over 10 s; medians of the samples): compare with gotunnel's daemon",
    "and client above.",
    "",
  ];
  if (floors.skipped) return [...lines, `- skipped (${floors.skipped})`, ""];
  const each = (kib: number[]) => `${mib(median(kib))} (${kib.map((v) => (v / 1024).toFixed(1)).join(", ")})`;
  const cpu = (ms: number[]) => `idle CPU ${median(ms)} ms a minute (${ms.join(", ")})`;
  const daemon = "the daemon's parts (HTTPS h2 + HTTP listeners, control socket, admin port, a child)";
  const client = "the `up` client's parts (a streamed fetch over the control socket, stdout, signals)";
  lines.push(`- ${daemon}: ${each(floors.daemonKiB)}; ${cpu(floors.daemonCpu)}`);
  lines.push(`- ${client}: ${each(floors.clientKiB)}; ${cpu(floors.clientCpu)}`);
  return [...lines, ""];
}
