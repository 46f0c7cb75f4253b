/**
 * Runs every cell against one target at a time (only the upstream and that target are up), so targets never
 * share the two cores with each other.
 */
import { CpuMeter, idleCpuMsPerMinute } from "./cpu-time.ts";
import { h2loadMissing, h2SanityProblem } from "./h2load.ts";
import { runLoad } from "./load.ts";
import { BODY_BYTES, BODY_LABEL, type Cell, type Proto, schemeOf } from "./matrix.ts";
import { NOISY_FOREIGN_PERCENT, NoiseMeter, type QuietGate } from "./noise.ts";
import type { TargetName } from "./options.ts";
import { sleep } from "./proc.ts";
import { RssSampler, rolesKiB, treeKiB, treePssKiB } from "./rss.ts";
import { type BenchContext, baseUrl, type RunningTarget, SkipTarget, type TargetStarter } from "./target.ts";
import { probeTls } from "./tls-probe.ts";
import type { WrkResult } from "./wrk.ts";

export interface CellResult {
  target: TargetName;
  proto: Proto;
  size: Cell["size"];
  load: string;
  connections: number;
  newConnectionPerRequest: boolean;
  /** Absent when the cell was skipped; see `skipped`. */
  wrk?: WrkResult;
  /** Peak summed VmRSS of the proxy's process tree during the measured run, KiB; null for direct. */
  rssPeakKiB: number | null;
  /** Each named process's own peak VmRSS during the run (RunningTarget.processes), KiB. */
  rolesPeakKiB?: Record<string, number>;
  /** CPU time (user + system) of the proxy's process tree per completed request, µs; null for direct. */
  cpuUsPerRequest?: number | null;
  /** CPU used by processes outside the bench during the measured run, % of the whole machine. */
  foreignCpuPercent?: number;
  skipped?: string;
  /** With --rounds: every round's req/s for this cell, in run order (the row shows the median round). */
  roundsRps?: number[];
}

export interface TargetReport {
  name: TargetName;
  version?: string;
  note?: string;
  /** Protocol, cipher and key exchange an OpenSSL client negotiates with the HTTPS endpoint. */
  tls?: string;
  skipped?: string;
  /** Summed VmHWM of the proxy's processes just before it was stopped: peak over its whole life, KiB. */
  lifetimePeakKiB?: number | null;
  /** VmRSS once started and idle, before any load: the tree's sum and each named process, KiB; and the tree's PSS. */
  idle?: IdleMemory;
  /** CPU while idle, right after the idle VmRSS: milliseconds per minute, the tree's sum and each named process. */
  idleCpu?: { total: number; roles: Record<string, number> };
  /** VmRSS AFTER_LOAD_SETTLE_MS after the last cell: what the proxy keeps once a burst is over, KiB. */
  afterLoad?: IdleMemory;
}

export interface IdleMemory {
  totalKiB: number;
  roles: Record<string, number>;
  /** The tree's proportional set size (rss.ts treePssKiB): shared pages counted once. */
  pssKiB?: number;
}

export type Progress = (line: string) => void;

const SANITY_TIMEOUT_MS = 10_000;

/** One request per (proto, size) before measuring: wrk counts 3xx as success, so a redirect must not slip through. */
export async function sanityProblem(target: RunningTarget, proto: Proto, size: Cell["size"]): Promise<string | null> {
  const endpoint = target.endpoints[schemeOf(proto)];
  if (proto === "h2") {
    return h2loadMissing() ?? (await h2SanityProblem(endpoint.port, endpoint.host, `/${size}`, BODY_BYTES[size]));
  }
  try {
    const response = await fetch(`${baseUrl(proto, endpoint)}/${size}`, {
      headers: { host: endpoint.host },
      redirect: "manual",
      tls: { rejectUnauthorized: false },
      signal: AbortSignal.timeout(SANITY_TIMEOUT_MS),
    });
    const body = await response.arrayBuffer();
    if (response.status !== 200) return `${proto.toUpperCase()} /${size} answered ${response.status}`;
    if (body.byteLength !== BODY_BYTES[size])
      return `${proto.toUpperCase()} /${size} body was ${body.byteLength} bytes`;
    return null;
  } catch (error) {
    return `${proto.toUpperCase()} /${size} failed: ${(error as Error).message}`;
  }
}

function describe(result: WrkResult, rssKiB: number | null, cpuUs: number | null): string {
  const rss = rssKiB === null ? "" : `, peak RSS ${(rssKiB / 1024).toFixed(1)} MiB`;
  const cpu = cpuUs === null ? "" : `, CPU ${cpuUs.toFixed(1)} µs/req`;
  const p99 = (result.p99Us / 1000).toFixed(2);
  return `${Math.round(result.rps).toLocaleString("en-US")} req/s, p99 ${p99} ms, errors ${result.errorsTotal}${rss}${cpu}`;
}

async function measureCell(context: BenchContext, target: RunningTarget, cell: Cell, io: RunIo) {
  const spec = { context, target, cell, script: io.script };
  const warmupNoise = new NoiseMeter();
  if (context.options.warmupS > 0) await runLoad(spec, context.options.warmupS);
  if (warmupNoise.stop() > NOISY_FOREIGN_PERCENT) await io.gate.wait();
  const sampler = target.rssRoot === null ? null : new RssSampler(target.rssRoot, target.processes);
  const cpu = target.rssRoot === null ? null : new CpuMeter(target.rssRoot);
  const noise = new NoiseMeter();
  try {
    const wrk = await runLoad(spec, context.options.durationS);
    const cpuUsPerRequest = cpu?.stop(wrk.requests) ?? null;
    const rssPeakKiB = sampler?.stop() ?? null;
    const rolesPeakKiB = target.processes ? sampler?.rolesPeakKiB : undefined;
    return { wrk, rssPeakKiB, rolesPeakKiB, cpuUsPerRequest, foreignCpuPercent: noise.stop() };
  } finally {
    sampler?.stop();
  }
}

function cellBase(name: TargetName, cell: Cell) {
  return {
    target: name,
    proto: cell.proto,
    size: cell.size,
    load: cell.load.label,
    connections: cell.load.connections,
    newConnectionPerRequest: cell.load.close,
  };
}

async function runCells(context: BenchContext, target: RunningTarget, cells: Cell[], io: RunIo) {
  const broken = new Map<string, string>();
  const results: CellResult[] = [];
  for (const cell of cells) {
    const key = `${cell.proto}/${cell.size}`;
    if (!broken.has(key)) {
      const problem = await sanityProblem(target, cell.proto, cell.size);
      broken.set(key, problem ?? "");
    }
    const label = `${target.name} ${cell.proto.toUpperCase()} ${BODY_LABEL[cell.size]} ${cell.load.label}`;
    const problem = broken.get(key) || null;
    if (problem) {
      results.push({ ...cellBase(target.name, cell), rssPeakKiB: null, skipped: problem });
      io.progress(`${label}: skipped (${problem})`);
      continue;
    }
    try {
      const measured = await measureCell(context, target, cell, io);
      const { wrk, rssPeakKiB, cpuUsPerRequest, foreignCpuPercent } = measured;
      results.push({ ...cellBase(target.name, cell), ...measured });
      io.progress(`${label}: ${describe(wrk, rssPeakKiB, cpuUsPerRequest)}, other load ${foreignCpuPercent}%`);
    } catch (error) {
      results.push({ ...cellBase(target.name, cell), rssPeakKiB: null, skipped: (error as Error).message });
      io.progress(`${label}: failed (${(error as Error).message})`);
    }
  }
  return results;
}

export interface RunIo {
  script: string;
  gate: QuietGate;
  progress: Progress;
}

/** Starts the target, measures every cell, stops it. A target that cannot start is reported, not fatal. */
export async function benchTarget(
  name: TargetName,
  start: TargetStarter,
  context: BenchContext,
  cells: Cell[],
  io: RunIo,
): Promise<{ report: TargetReport; results: CellResult[] }> {
  let target: RunningTarget;
  try {
    target = await start(context);
  } catch (error) {
    // Not installed, or did not come up: the other targets are still worth measuring.
    const message = (error as Error).message;
    const reason = error instanceof SkipTarget ? message : `did not start: ${message}`;
    io.progress(`${name}: skipped (${reason})`);
    return { report: { name, skipped: reason }, results: [] };
  }
  try {
    const tls = await probeTls(target.endpoints.https.port, target.endpoints.https.host);
    io.progress(`${name}: started (${target.version}; ${tls})`);
    const idle = await idleMemory(target);
    const idleCpu = await idleCpuOf(target, context.options.quick ? IDLE_CPU_QUICK_MS : IDLE_CPU_MS);
    const results = await runCells(context, target, cells, io);
    const afterLoad = await memoryAfter(target, AFTER_LOAD_SETTLE_MS);
    const lifetimePeakKiB = target.rssRoot === null ? null : treeKiB(target.rssRoot, "VmHWM");
    const note = target.note?.();
    const report = { name, version: target.version, note, tls, lifetimePeakKiB, idle, idleCpu, afterLoad };
    return { report, results };
  } finally {
    await target.stop();
  }
}

/** After start-up settles (certificates issued, one TLS handshake and request done by probeTls), no load. */
const IDLE_SETTLE_MS = 2_000;
/**
 * After the last cell, no load: a proxy that runs all day keeps what it holds then until the next burst. Past twice
 * gotunnel's idle-trim quiet time (src/daemon/idle-trim.ts IDLE_TRIM_QUIET_MS, 5 s), when its trim has run.
 */
export const AFTER_LOAD_SETTLE_MS = 12_000;

/** How long idle CPU is counted: clock ticks are 10 ms, and an idle server uses a few of them a second. */
const IDLE_CPU_MS = 30_000;
const IDLE_CPU_QUICK_MS = 15_000;

async function idleCpuOf(target: RunningTarget, windowMs: number): Promise<TargetReport["idleCpu"]> {
  if (target.rssRoot === null) return undefined;
  return idleCpuMsPerMinute(target.rssRoot, target.processes?.() ?? {}, windowMs);
}

function idleMemory(target: RunningTarget): Promise<TargetReport["idle"]> {
  return memoryAfter(target, IDLE_SETTLE_MS);
}

/** VmRSS of the target's tree and of each named process, `settleMs` from now. */
async function memoryAfter(target: RunningTarget, settleMs: number): Promise<TargetReport["idle"]> {
  if (target.rssRoot === null) return undefined;
  await sleep(settleMs);
  const roles = target.processes ? rolesKiB(target.processes()) : {};
  return { totalKiB: treeKiB(target.rssRoot, "VmRSS"), roles, pssKiB: treePssKiB(target.rssRoot) };
}

/**
 * One result per cell from a target's rounds: the round with the median req/s (the lower middle for an even count),
 * whole, so its latencies and RSS belong to the same run; every round's req/s goes along.
 */
export function medianRounds(rounds: CellResult[][]): CellResult[] {
  if (rounds.length === 1) return rounds[0] ?? [];
  return (rounds[0] ?? []).map((_, cell) => {
    const measured = rounds.map((round) => round[cell]).filter((result) => result?.wrk !== undefined) as CellResult[];
    if (measured.length === 0) return rounds[0]?.[cell] as CellResult;
    const byRps = [...measured].sort((a, b) => (a.wrk?.rps ?? 0) - (b.wrk?.rps ?? 0));
    const median = byRps[Math.floor((byRps.length - 1) / 2)] as CellResult;
    return { ...median, roundsRps: measured.map((result) => Math.round(result.wrk?.rps ?? 0)) };
  });
}
