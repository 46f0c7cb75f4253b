/**
 * One wrk run, bounded in time, with its summary read from a Lua done() hook instead of scraping the text.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type CpuPlan, pinned } from "./cpu.ts";
import { run } from "./proc.ts";

export interface WrkErrors {
  connect: number;
  read: number;
  write: number;
  timeout: number;
  /** Responses outside 2xx/3xx. */
  status: number;
}

export interface WrkResult {
  requests: number;
  durationS: number;
  rps: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
  errors: WrkErrors;
  errorsTotal: number;
}

export interface WrkRun {
  url: string;
  host: string;
  connections: number;
  threads: number;
  cpus: CpuPlan | null;
  durationS: number;
  close: boolean;
}

const SUMMARY_MARK = "WRK_SUMMARY ";

// done() receives wrk's own histogram, so percentiles are exact to wrk's µs resolution.
const SUMMARY_LUA = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("${SUMMARY_MARK}%d %d %d %d %d %d %d %d %d %d %d\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;

// Generous, so a slow proxy shows up as high p99 rather than as wrk-side timeouts.
const REQUEST_TIMEOUT_S = 10;
// wrk stops itself after -d; this is only the backstop for a wedged wrk.
const KILL_GRACE_MS = 20_000;

export function writeWrkScript(dir: string): string {
  const path = join(dir, "summary.lua");
  writeFileSync(path, SUMMARY_LUA);
  return path;
}

function wrkArgs(spec: WrkRun, script: string): string[] {
  const args = ["wrk", "--latency", `-t${Math.min(spec.threads, spec.connections)}`, `-c${spec.connections}`];
  args.push(`-d${spec.durationS}s`, `--timeout`, `${REQUEST_TIMEOUT_S}s`, "-s", script, "-H", `Host: ${spec.host}`);
  if (spec.close) args.push("-H", "Connection: close");
  args.push(spec.url);
  return pinned(spec.cpus, "client", args);
}

function parseSummary(stdout: string): WrkResult {
  const line = stdout.split("\n").find((text) => text.startsWith(SUMMARY_MARK));
  if (!line) throw new Error(`wrk printed no summary:\n${stdout}`);
  const n = line.slice(SUMMARY_MARK.length).trim().split(/\s+/).map(Number);
  const at = (index: number) => n[index] ?? 0;
  const errors: WrkErrors = { connect: at(2), read: at(3), write: at(4), timeout: at(5), status: at(6) };
  const durationS = at(1) / 1e6;
  return {
    requests: at(0),
    durationS,
    rps: durationS > 0 ? at(0) / durationS : 0,
    p50Us: at(7),
    p90Us: at(8),
    p99Us: at(9),
    maxUs: at(10),
    errors,
    errorsTotal: errors.connect + errors.read + errors.write + errors.timeout + errors.status,
  };
}

export async function runWrk(spec: WrkRun, script: string): Promise<WrkResult> {
  const result = await run(wrkArgs(spec, script), spec.durationS * 1000 + KILL_GRACE_MS);
  if (result.code !== 0)
    throw new Error(`wrk failed (${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
  return parseSummary(result.stdout);
}
