/**
 * The rounds: every round loads every target once under every network condition, the targets' order rotated round
 * by round, after a few unmeasured warm-up loads each. All targets stay up side by side the whole time (an idle
 * proxy takes no CPU), so two targets' loads are seconds apart and drift hits them alike.
 */
import { NOISY_FOREIGN_PERCENT, NoiseMeter, type QuietGate } from "../lib/noise.ts";
import type { LoadOutcome } from "./chromium.ts";
import { type FetchRig, fetchAll } from "./fetch-all.ts";
import type { BrowserBenchOptions, Condition } from "./options.ts";
import { roundOrder, type Sample, type Series } from "./stats.ts";
import type { BrowserTarget } from "./target.ts";

export interface ConditionRig {
  condition: Condition;
  /** Where this condition's browser reaches the servers. */
  address: string;
  load(url: string, timeoutMs: number): Promise<LoadOutcome>;
  /** Where h2load runs to fetch the same modules without a browser (fetch-all.ts). */
  fetch: FetchRig;
}

export interface MeasureIo {
  gate: QuietGate;
  progress(line: string): void;
}

async function loadOnce(
  rig: ConditionRig,
  target: BrowserTarget,
  options: BrowserBenchOptions,
  round: number,
): Promise<Sample> {
  const meter = new NoiseMeter();
  const outcome = await rig.load(target.url(rig.address), options.loadTimeoutMs);
  const foreignCpuPercent = meter.stop();
  const page = outcome.page;
  if (!page) return { round, ms: null, error: outcome.error ?? "no result", foreignCpuPercent };
  // The entry counts every other module (app.ts): fewer means the page ran before all of them had loaded.
  if (page.ran !== options.modules - 1) {
    const error = `only ${page.ran} of ${options.modules - 1} modules ran`;
    return { round, ms: null, error, foreignCpuPercent, protocols: page.protocols };
  }
  if (page.cached > 0) {
    const error = `${page.cached} resources came from a cache: not a cold load`;
    return { round, ms: null, error, foreignCpuPercent, protocols: page.protocols };
  }
  return { round, ms: page.ms, foreignCpuPercent, protocols: page.protocols };
}

function describeSample(sample: Sample): string {
  const noisy = sample.foreignCpuPercent > NOISY_FOREIGN_PERCENT ? ` ⚠ ${sample.foreignCpuPercent}% other load` : "";
  return sample.ms === null ? `failed: ${sample.error}` : `${Math.round(sample.ms)} ms${noisy}`;
}

export async function measureRounds(
  rigs: ConditionRig[],
  targets: BrowserTarget[],
  options: BrowserBenchOptions,
  io: MeasureIo,
): Promise<Series[]> {
  const series = new Map<string, Series>();
  for (const rig of rigs) {
    for (const target of targets) {
      series.set(`${rig.condition}/${target.name}`, { target: target.name, condition: rig.condition, samples: [] });
      for (let load = 1; load <= options.warmup; load++) {
        const sample = await loadOnce(rig, target, options, 0);
        io.progress(`warm-up ${rig.condition} ${target.name}: ${describeSample(sample)}`);
      }
    }
  }
  for (let round = 1; round <= options.rounds; round++) {
    let noisy = false;
    for (const rig of rigs) {
      for (const target of roundOrder(targets, round)) {
        const sample = await loadOnce(rig, target, options, round);
        series.get(`${rig.condition}/${target.name}`)?.samples.push(sample);
        noisy ||= sample.foreignCpuPercent > NOISY_FOREIGN_PERCENT;
        io.progress(`round ${round}/${options.rounds} ${rig.condition} ${target.name}: ${describeSample(sample)}`);
      }
    }
    if (noisy && round < options.rounds) await io.gate.wait();
  }
  return [...series.values()];
}

/** Fetches without a browser per target and condition: at most this many rounds, after one unmeasured fetch. */
export const FETCH_ROUNDS = 5;

/** Every module fetched by h2load (fetch-all.ts), per target and condition, in rounds ordered as the loads are. */
export async function measureFetches(
  rigs: ConditionRig[],
  targets: BrowserTarget[],
  options: BrowserBenchOptions,
  io: MeasureIo & { dir: string },
): Promise<Series[]> {
  const rounds = Math.min(FETCH_ROUNDS, options.rounds);
  const series: Series[] = [];
  for (const rig of rigs) {
    const own = new Map(targets.map((target) => [target.name, [] as Sample[]]));
    for (const target of targets) await fetchAll(rig.fetch, target, options.modules, io.dir, 0);
    for (let round = 1; round <= rounds; round++) {
      for (const target of roundOrder(targets, round)) {
        const sample = await fetchAll(rig.fetch, target, options.modules, io.dir, round);
        own.get(target.name)?.push(sample);
        io.progress(`fetch ${round}/${rounds} ${rig.condition} ${target.name}: ${describeSample(sample)}`);
      }
    }
    for (const [target, samples] of own) series.push({ target, condition: rig.condition, samples });
  }
  return series;
}
