/**
 * The numbers the browser bench reports, from the loads it measured: per target and condition the median load
 * time with its quartiles, and ratios between two targets taken round by round (each round loads every target
 * once, seconds apart, so the machine's drift over the run cancels out of each round's ratio).
 */
import { quartiles } from "../lib/paired.ts";
import type { BrowserTargetName, Condition } from "./options.ts";

export interface Sample {
  round: number;
  /** Until every module ran, ms since navigation start; null when the load failed. */
  ms: number | null;
  error?: string;
  /** CPU other processes used during the load, % of the machine (lib/noise.ts). */
  foreignCpuPercent: number;
  /** Resources per protocol the page saw (nextHopProtocol), e.g. { h2: 1503 }. */
  protocols?: Record<string, number>;
}

export interface Series {
  target: BrowserTargetName;
  condition: Condition;
  samples: Sample[];
}

export interface Summary {
  median: number;
  q1: number;
  q3: number;
  loads: number;
  failed: number;
}

/** Median and quartiles of the loads that finished; null when none did. */
export function summarize(samples: readonly Sample[]): Summary | null {
  const times = samples.flatMap((sample) => (sample.ms === null ? [] : [sample.ms]));
  if (times.length === 0) return null;
  return { ...quartiles(times), loads: times.length, failed: samples.length - times.length };
}

/** Round by round, a's time over b's, for the rounds where both loads finished. */
export function roundRatios(a: readonly Sample[], b: readonly Sample[]): number[] {
  const byRound = new Map(b.map((sample) => [sample.round, sample.ms]));
  const ratios: number[] = [];
  for (const sample of a) {
    const other = byRound.get(sample.round);
    if (sample.ms !== null && other !== null && other !== undefined && other > 0) ratios.push(sample.ms / other);
  }
  return ratios;
}

/** The median of roundRatios with its quartiles, or null without a common round. */
export function ratioSummary(
  a: readonly Sample[],
  b: readonly Sample[],
): { q1: number; median: number; q3: number } | null {
  const ratios = roundRatios(a, b);
  return ratios.length === 0 ? null : quartiles(ratios);
}

/** The protocols a series' loads used, most used first: "h2" or "http/1.1", or both with counts. */
export function protocolsOf(samples: readonly Sample[]): string {
  const totals = new Map<string, number>();
  for (const sample of samples) {
    for (const [protocol, count] of Object.entries(sample.protocols ?? {})) {
      totals.set(protocol, (totals.get(protocol) ?? 0) + count);
    }
  }
  const sorted = [...totals].sort((x, y) => y[1] - x[1]);
  if (sorted.length <= 1) return sorted[0]?.[0] ?? "–";
  const all = sorted.reduce((sum, [, count]) => sum + count, 0);
  return sorted.map(([protocol, count]) => `${protocol} ${Math.round((count / all) * 100)}%`).join(", ");
}

/** Interleaving: round r visits the targets starting at index r, so none always goes first. */
export function roundOrder<T>(items: readonly T[], round: number): T[] {
  const start = round % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}
