/**
 * `bun run bench`: gotunnel side by side with nginx and Caddy as reverse proxies in front of one fixed nginx
 * upstream, over HTTP and HTTPS, measured with wrk. See bench/README.md for what is measured and why.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { startBunFloor } from "./lib/bun-floor.ts";
import { startCaddy } from "./lib/caddy.ts";
import { prepareCerts } from "./lib/certs.ts";
import { type CpuPlan, describePlan, pinSelf, planCpus } from "./lib/cpu.ts";
import { measureFloorMemory } from "./lib/floors.ts";
import { floorLines, startupLines } from "./lib/footprint.ts";
import { gotunnelEnvironment, startGotunnel, startGotunnelOtel } from "./lib/gotunnel.ts";
import { canIsolate, isInside, runIsolated } from "./lib/isolate.ts";
import { buildCells } from "./lib/matrix.ts";
import { startNginxProxy, startUpstream, type Upstream } from "./lib/nginx.ts";
import { QuietGate } from "./lib/noise.ts";
import { type BenchOptions, parseOptions, REPO_ROOT, TARGET_NAMES, type TargetName, USAGE } from "./lib/options.ts";
import { measurePaired } from "./lib/paired.ts";
import { ensurePortless } from "./lib/peers.ts";
import { startPortless } from "./lib/portless.ts";
import { stopAll } from "./lib/proc.ts";
import { type RunMeta, renderJson, renderMarkdown, renderPairedJson, renderPairedMarkdown } from "./lib/report.ts";
import {
  benchTarget,
  type CellResult,
  medianRounds,
  type RunIo,
  sanityProblem,
  type TargetReport,
} from "./lib/runner.ts";
import { measureStartup } from "./lib/startup.ts";
import { type BenchContext, type RunningTarget, SkipTarget, type TargetStarter } from "./lib/target.ts";
import { writeWrkScript } from "./lib/wrk.ts";

const RESULTS_DIR = join(REPO_ROOT, "bench/results");
// Per cell on top of warm-up + duration: sanity request, process spawn, wrk start-up.
const CELL_OVERHEAD_S = 0.5;
/** Samples of the memory floors (lib/floors.ts): each starts both programs afresh and waits 2 s. */
const FLOOR_MEMORY_RUNS = 3;

function progress(line: string): void {
  const elapsedS = Math.round(performance.now() / 1000);
  console.error(`[${String(elapsedS).padStart(4)} s] ${line}`);
}

function starters(upstream: Upstream): Record<TargetName, TargetStarter> {
  return {
    direct: async () => upstream.target,
    nginx: startNginxProxy,
    caddy: startCaddy,
    portless: startPortless,
    "bun-floor": startBunFloor,
    gotunnel: startGotunnel,
    "gotunnel-otel": (context) => startGotunnelOtel(context, "gotunnel-otel"),
    "gotunnel-otel-all": (context) => startGotunnelOtel(context, "gotunnel-otel-all"),
  };
}

function machine(): string {
  const model = cpus()[0]?.model.trim() ?? "unknown CPU";
  const memoryGiB = Math.round(totalmem() / 2 ** 30);
  return `${cpus().length} cores (${model}), ${memoryGiB} GiB, Linux ${release()}, Bun ${Bun.version}`;
}

function writeResults(options: BenchOptions, meta: RunMeta, markdown: string, json: string): string[] {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = meta.startedAt.replaceAll(":", "-").replace(/\.\d+Z$/, "Z");
  const written = [join(RESULTS_DIR, `${stamp}.md`)];
  writeFileSync(written[0] as string, markdown);
  if (options.json) {
    written.push(join(RESULTS_DIR, `${stamp}.json`));
    writeFileSync(written[1] as string, json);
  }
  return written;
}

interface MetaInputs {
  startedAt: string;
  certSource: string;
  upstreamVersion: string;
  cpus: CpuPlan | null;
  quietWaitedS: number;
}

function runMeta(options: BenchOptions, inputs: MetaInputs): RunMeta {
  const { startedAt, certSource, upstreamVersion, cpus, quietWaitedS } = inputs;
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: machine(),
    isolated: isInside(),
    cpuLayout: describePlan(cpus),
    quietWaitedS,
    wrkThreads: options.threads,
    durationS: options.durationS,
    warmupS: options.warmupS,
    workers: options.workers,
    rounds: options.rounds,
    pairs: options.pairs,
    certSource,
    upstream: `${upstreamVersion} serving fixed 1 KiB / 1 MiB files (sendfile, access_log off)`,
  };
}

async function measureAll(options: BenchOptions, dir: string, startedAt: string): Promise<void> {
  const gotunnelEnv = gotunnelEnvironment(dir);
  const certs = await prepareCerts(dir, options.binary, gotunnelEnv);
  const cpus = planCpus(options.pin);
  pinSelf(cpus);
  const upstream = await startUpstream({ options, dir, certs, cpus, gotunnelEnv });
  const context = { options, dir, certs, cpus, gotunnelEnv, upstreamPort: upstream.httpPort };
  const cells = buildCells(options.quick);
  const io = { script: writeWrkScript(dir), gate: new QuietGate(options.quietWaitS * 1000), progress };
  const measured =
    options.pairs > 0
      ? await measureByPairs(context, starters(upstream), cells, io)
      : await measureMatrix(context, starters(upstream), cells, io);
  const startup =
    options.startupRuns > 0 && options.pairs === 0 ? await measureStartup(context, options.startupRuns, progress) : [];
  const floors =
    options.startupRuns > 0 && options.pairs === 0 && options.only.includes("bun-floor")
      ? await measureFloorMemory(context, FLOOR_MEMORY_RUNS)
      : undefined;
  if (floors) progress(`memory floors: ${floors.skipped ?? "measured"}`);
  await upstream.stop();
  const meta = runMeta(options, {
    startedAt,
    certSource: certs.source,
    upstreamVersion: upstream.target.version,
    cpus,
    quietWaitedS: io.gate.waitedMs / 1000,
  });
  const rendered = measured.render(meta);
  const markdown = [rendered.markdown, ...startupLines(startup), ...floorLines(floors)].join("\n");
  const json = `${JSON.stringify({ ...JSON.parse(rendered.json), startup, floors }, null, 2)}\n`;
  console.log(markdown);
  for (const path of writeResults(options, meta, markdown, json)) progress(`wrote ${path}`);
}

interface Measured {
  render(meta: RunMeta): { markdown: string; json: string };
}

/** Every --only target, one at a time over all cells, --rounds times over. */
async function measureMatrix(
  context: BenchContext,
  starting: Record<TargetName, TargetStarter>,
  cells: ReturnType<typeof buildCells>,
  io: RunIo,
): Promise<Measured> {
  const { options } = context;
  const perCellS = options.durationS + options.warmupS + CELL_OVERHEAD_S;
  const etaMin = ((options.rounds * cells.length * options.only.length * perCellS) / 60).toFixed(1);
  const times = options.rounds > 1 ? `, ${options.rounds} rounds` : "";
  progress(`${cells.length} cells × ${options.only.join(", ")}${times}: about ${etaMin} min`);
  const reports = new Map<TargetName, TargetReport>();
  const runs = new Map<TargetName, CellResult[][]>();
  for (let round = 1; round <= options.rounds; round++) {
    if (options.rounds > 1) progress(`round ${round} of ${options.rounds}`);
    for (const name of options.only) {
      const outcome = await benchTarget(name, starting[name], context, cells, io);
      reports.set(name, outcome.report);
      runs.set(name, [...(runs.get(name) ?? []), outcome.results]);
    }
  }
  const targets = [...reports.values()];
  const results = [...runs.values()].flatMap(medianRounds);
  return {
    render: (meta) => ({
      markdown: renderMarkdown(meta, targets, results),
      json: renderJson(meta, targets, results),
    }),
  };
}

/**
 * --pairs: gotunnel and its traced variants (those --only names) start together and stay up; every cell visits
 * them in turn (lib/paired.ts). Each must answer the sanity request first; a variant that cannot start is reported.
 */
async function measureByPairs(
  context: BenchContext,
  starting: Record<TargetName, TargetStarter>,
  cells: ReturnType<typeof buildCells>,
  io: RunIo,
): Promise<Measured> {
  const names = TARGET_NAMES.filter((name) => name.startsWith("gotunnel") && context.options.only.includes(name));
  const passes = context.options.pairs;
  const perRunS = context.options.durationS + CELL_OVERHEAD_S;
  const etaMin = ((cells.length * names.length * (passes * perRunS + context.options.warmupS)) / 60).toFixed(1);
  progress(`${cells.length} cells × ${names.join(", ")} side by side, ${passes} passes: about ${etaMin} min`);
  const running: RunningTarget[] = [];
  const skipped: TargetReport[] = [];
  try {
    for (const name of names) {
      try {
        running.push(await starting[name](context));
        progress(`${name}: started`);
      } catch (error) {
        const message = (error as Error).message;
        skipped.push({ name, skipped: error instanceof SkipTarget ? message : `did not start: ${message}` });
      }
    }
    if (!running.some((target) => target.name === "gotunnel") || running.length < 2) {
      const why = skipped.map((target) => `${target.name}: ${target.skipped}`).join("; ");
      throw new Error(`--pairs needs gotunnel and a traced variant running (${why})`);
    }
    for (const target of running) {
      for (const cell of cells) {
        const problem = await sanityProblem(target, cell.proto, cell.size);
        if (problem) throw new Error(`${target.name}: ${problem}`);
      }
    }
    const measured = await measurePaired(context, running, cells, passes, io);
    const ran = running.map((target) => ({ name: target.name, version: target.version, note: target.note?.() }));
    const targets = [...ran, ...skipped];
    return {
      render: (meta) => ({
        markdown: renderPairedMarkdown(meta, targets, measured),
        json: renderPairedJson(meta, targets, measured),
      }),
    };
  } finally {
    for (const target of running) await target.stop();
  }
}

async function runBench(options: BenchOptions): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-bench-"));
  const interrupted = async (signal: string) => {
    progress(`${signal}: stopping everything`);
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.on("SIGINT", () => void interrupted("SIGINT"));
  process.on("SIGTERM", () => void interrupted("SIGTERM"));
  try {
    await measureAll(options, dir, new Date().toISOString());
    rmSync(dir, { recursive: true, force: true });
    return 0;
  } catch (error) {
    progress(`failed: ${(error as Error).stack ?? error}`);
    progress(`configs and logs kept in ${dir}`);
    return 1;
  } finally {
    await stopAll();
  }
}

async function main(argv: string[]): Promise<number> {
  let options: BenchOptions | null;
  try {
    options = parseOptions(argv);
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!options) {
    console.log(USAGE);
    return 0;
  }
  if (!Bun.which("wrk")) {
    console.error("wrk is required: apt-get install -y wrk");
    return 1;
  }
  // From the npm registry, before the private namespaces (which have no network); a failure skips the target.
  if (options.only.includes("portless") && !isInside()) {
    await ensurePortless(progress).catch((error: Error) => progress(`portless: not installed (${error.message})`));
  }
  if (options.isolate && !isInside()) {
    if (canIsolate()) return runIsolated(import.meta.path, argv);
    progress("not root or unshare missing: running without namespace isolation");
  }
  return runBench(options);
}

process.exit(await main(Bun.argv.slice(2)));
