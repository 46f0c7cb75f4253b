/**
 * `--pairs <n>`: tracing's cost measured by pairs rather than by rounds. gotunnel and its traced variants run side by
 * side (an idle daemon takes no CPU), and each cell visits them in turn n times with short runs, the order rotated
 * every pass. Runs of two targets are then seconds apart instead of a minute, so the machine's drift, which is as
 * large as the cost being measured, falls out of each pass's ratio; the report gives the median ratio and its
 * interquartile range.
 */

import { runLoad } from "./load.ts";
import { type Cell, cellKey } from "./matrix.ts";
import { NOISY_FOREIGN_PERCENT, NoiseMeter } from "./noise.ts";
import { type TargetName, TRACED_TARGETS } from "./options.ts";
import type { RunIo } from "./runner.ts";
import type { BenchContext, RunningTarget } from "./target.ts";

export interface PairedCell {
  proto: Cell["proto"];
  size: Cell["size"];
  load: string;
  /** Each target's req/s in every pass, in pass order. */
  rps: Partial<Record<TargetName, number[]>>;
  /** The highest share of the machine's CPU other processes used during any run of this cell, %. */
  foreignCpuPercent: number;
}

/** The median and quartiles of a sample (linear interpolation between order statistics, as R's type 7). */
export function quartiles(values: readonly number[]): { q1: number; median: number; q3: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => {
    const position = (sorted.length - 1) * p;
    const low = Math.floor(position);
    const high = Math.min(low + 1, sorted.length - 1);
    return (sorted[low] as number) + ((sorted[high] as number) - (sorted[low] as number)) * (position - low);
  };
  return { q1: at(0.25), median: at(0.5), q3: at(0.75) };
}

/** Pass by pass, `name`'s req/s over gotunnel's: the passes where both were measured. */
export function passRatios(cell: PairedCell, name: TargetName): number[] {
  const [traced, base] = [cell.rps[name] ?? [], cell.rps.gotunnel ?? []];
  const ratios: number[] = [];
  for (let pass = 0; pass < Math.min(traced.length, base.length); pass++) {
    const denominator = base[pass] as number;
    if (denominator > 0) ratios.push((traced[pass] as number) / denominator);
  }
  return ratios;
}

/** Every cell, every pass: each target once per pass, the order rotated so that none always goes first. */
export async function measurePaired(
  context: BenchContext,
  targets: RunningTarget[],
  cells: Cell[],
  passes: number,
  io: RunIo,
): Promise<PairedCell[]> {
  const results: PairedCell[] = [];
  for (const cell of cells) {
    const result: PairedCell = {
      proto: cell.proto,
      size: cell.size,
      load: cell.load.label,
      rps: {},
      foreignCpuPercent: 0,
    };
    const measure = async (target: RunningTarget) => {
      const noise = new NoiseMeter();
      const wrk = await runLoad({ context, target, cell, script: io.script }, context.options.durationS);
      result.foreignCpuPercent = Math.max(result.foreignCpuPercent, noise.stop());
      if (wrk.errorsTotal > 0) throw new Error(`${target.name}: ${wrk.errorsTotal} errors in ${cellLabel(result)}`);
      return wrk.rps;
    };
    // As the matrix does (runner.ts): only when the warm-ups saw other load does the run idle for it to pass.
    if (context.options.warmupS > 0) {
      const warmupNoise = new NoiseMeter();
      for (const target of targets) {
        await runLoad({ context, target, cell, script: io.script }, context.options.warmupS);
      }
      if (warmupNoise.stop() > NOISY_FOREIGN_PERCENT) await io.gate.wait();
    }
    for (let pass = 0; pass < passes; pass++) {
      const line: string[] = [];
      for (let k = 0; k < targets.length; k++) {
        const target = targets[(pass + k) % targets.length] as RunningTarget;
        const rps = await measure(target);
        result.rps[target.name] = [...(result.rps[target.name] ?? []), rps];
        line.push(`${target.name} ${Math.round(rps).toLocaleString("en-US")}`);
      }
      io.progress(`${cellLabel(result)}, pass ${pass + 1} of ${passes}: ${line.join(", ")} req/s`);
    }
    results.push(result);
  }
  return results;
}

function cellLabel(cell: Pick<PairedCell, "proto" | "size" | "load">): string {
  return `${cell.proto} ${cell.size} ${cell.load}`;
}

/** The report's section: per cell and traced target, the median pass ratio, its quartiles and every pass. */
export function pairedLines(cells: PairedCell[], passes: number): string[] {
  const lines: string[] = [];
  for (const cell of cells) {
    for (const name of TRACED_TARGETS) {
      const ratios = passRatios(cell, name);
      if (ratios.length === 0) continue;
      const { q1, median, q3 } = quartiles(ratios);
      const each = ratios.map((ratio) => ratio.toFixed(2)).join(", ");
      lines.push(
        `- ${cellLabel(cell)}, ${name}: ${median.toFixed(3)} (quartiles ${q1.toFixed(3)} to ${q3.toFixed(3)}; passes: ${each})`,
      );
    }
  }
  if (lines.length === 0) return [];
  return [
    `Tracing's cost by pairs: each traced target's req/s over gotunnel's in the same pass (${passes} passes per cell,` +
      " the targets side by side and visited in turn), median and quartiles:",
    "",
    ...lines,
    "",
  ];
}

/** The JSON's `paired` entries: ratios alongside the raw req/s. */
export function pairedJson(cells: PairedCell[]) {
  return cells.map((cell) => ({
    cell: cellKey(cell.proto, cell.size, cell.load),
    rps: cell.rps,
    foreignCpuPercent: cell.foreignCpuPercent,
    ratioToGotunnel: Object.fromEntries(
      TRACED_TARGETS.filter((name) => cell.rps[name]).map((name) => {
        const ratios = passRatios(cell, name);
        const { q1, median, q3 } = quartiles(ratios);
        const round = (value: number) => Number(value.toFixed(4));
        return [name, { median: round(median), q1: round(q1), q3: round(q3), passes: ratios.map(round) }];
      }),
    ),
  }));
}
