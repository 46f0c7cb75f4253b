/**
 * The h2 cells' client: h2load (nghttp2) with ALPN h2, many streams per connection, bounded in time. Its summary
 * has no percentiles, so latencies come from its per-request log (`--log-file`: start, status, microseconds to the
 * end of the response), exactly. The result has wrk's shape, so the report treats both alike.
 *
 * It is also the c=1 cells' client, over HTTP/1.1 (`--h1`), because wrk 4.1's latencies at one connection cannot be
 * true: one connection has one request in flight, so mean latency × req/s is at most 1 (Little's law), and wrk
 * reports 4.0 against nginx alone here (49 µs mean at 81,000 req/s; wg/wrk#114, #438 report the same). Its p99
 * there was 215 µs where h2load's log, whose latencies add up to 0.94–0.98 of the run, gives 32 µs.
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type CpuPlan, pinned } from "./cpu.ts";
import { run } from "./proc.ts";
import type { WrkErrors, WrkResult } from "./wrk.ts";

export interface H2loadRun {
  /** `https://<name>/<path>`: the name is both SNI and :authority; --connect-to sends it to `port`. */
  url: string;
  port: number;
  connections: number;
  /** Concurrent streams per connection (`-m`). */
  streams: number;
  threads: number;
  cpus: CpuPlan | null;
  durationS: number;
  /** Where the per-request log goes (removed after reading). */
  dir: string;
  /** HTTP/1.1 (`--h1`) instead of h2: the c=1 cells (see the module comment). */
  h1?: boolean;
}

// h2load stops itself within a second of -D; past this it is wedged (see runH2load).
const KILL_GRACE_MS = 10_000;
/** 128 + SIGKILL: what run() reports for a process its timer killed. */
const KILLED_EXIT_CODE = 137;
const HUNG_RUN_ATTEMPTS = 2;
/**
 * Like wrk's --timeout 10s: a connection silent this long is dropped and its requests count as timed out. Without
 * it, h2load waits at the end of -D for every connection, and one the proxy never answered holds the run forever.
 */
const INACTIVITY_TIMEOUT_S = 10;
const SANITY_TIMEOUT_MS = 10_000;

export function h2loadMissing(): string | null {
  return Bun.which("h2load") ? null : "h2load is not installed (apt-get install -y nghttp2-client)";
}

function h2loadArgs(spec: H2loadRun, logFile: string): string[] {
  const args = ["h2load", `-t${Math.min(spec.threads, spec.connections)}`, `-c${spec.connections}`];
  args.push(`-m${spec.streams}`, `-D${spec.durationS}`, `-N${INACTIVITY_TIMEOUT_S}`);
  if (spec.h1) args.push("--h1");
  args.push("--connect-to", `127.0.0.1:${spec.port}`);
  args.push(`--log-file=${logFile}`, spec.url);
  return pinned(spec.cpus, "client", args);
}

/** The value at fraction `p` of sorted values (nearest rank), as wrk's percentile() reports it. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? 0;
}

/** Microseconds to the end of each answered request, sorted; status -1 marks a stream that failed. */
function latencies(logFile: string): Float64Array {
  const values: number[] = [];
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    const [, status, micros] = line.split("\t");
    if (status !== undefined && status !== "-1" && micros !== undefined) values.push(Number(micros));
  }
  return Float64Array.from(values).sort();
}

/**
 * h2load's own counts: `failed` includes HTTP failures (4xx/5xx), `errored` is the subset that failed below HTTP,
 * and `timeout` a subset of that (h2load's manual). Requests still in flight when -D ends are neither.
 */
export function parseH2load(stdout: string, sorted: Float64Array, durationS: number): WrkResult {
  const counts =
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      stdout,
    );
  if (!counts) throw new Error(`h2load printed no summary:\n${stdout}`);
  const [done, failed, errored, timeout] = [3, 5, 6, 7].map((at) => Number(counts[at]));
  const errors: WrkErrors = {
    connect: 0,
    read: (errored ?? 0) - (timeout ?? 0),
    write: 0,
    timeout: timeout ?? 0,
    status: (failed ?? 0) - (errored ?? 0),
  };
  return {
    requests: done ?? 0,
    durationS,
    rps: (done ?? 0) / durationS,
    p50Us: percentile(sorted, 0.5),
    p90Us: percentile(sorted, 0.9),
    p99Us: percentile(sorted, 0.99),
    maxUs: sorted.at(-1) ?? 0,
    errors,
    errorsTotal: failed ?? 0,
  };
}

/**
 * One measured run. Now and then (2 of about 30 runs here, against Caddy and gotunnel alike) h2load 1.52 prints
 * "Stopped all clients" and never exits, whatever -N says; it ignores SIGINT. Such a run is killed after the grace
 * and made once more; a second hang fails the cell.
 */
export async function runH2load(spec: H2loadRun): Promise<WrkResult> {
  let hung = "";
  for (let attempt = 0; attempt < HUNG_RUN_ATTEMPTS; attempt++) {
    const logFile = join(spec.dir, `h2load-${process.pid}-${Date.now()}.log`);
    try {
      const result = await run(h2loadArgs(spec, logFile), spec.durationS * 1000 + KILL_GRACE_MS);
      const said = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-3).join(" / ");
      if (result.code === KILLED_EXIT_CODE) {
        hung = said;
        continue;
      }
      if (result.code !== 0) throw new Error(`h2load failed (exit ${result.code}): ${said}`);
      const problem = protocolProblem(spec, result.stdout);
      if (problem) throw new Error(problem);
      return parseH2load(result.stdout, latencies(logFile), spec.durationS);
    } finally {
      rmSync(logFile, { force: true });
    }
  }
  throw new Error(`h2load did not stop after its duration, ${HUNG_RUN_ATTEMPTS} times: ${hung}`);
}

/** h2load names the protocol ALPN chose; plain HTTP has no ALPN, and `--h1` over TLS offers only http/1.1. */
function protocolProblem(spec: H2loadRun, stdout: string): string | null {
  if (spec.h1 && !spec.url.startsWith("https:")) return null;
  const wanted = spec.h1 ? "http/1.1" : "h2";
  return stdout.includes(`Application protocol: ${wanted}\n`) ? null : `h2load did not get ${wanted}:\n${stdout}`;
}

/** One h2 request with curl before measuring: it must be answered 200, over h2, with the exact body length. */
export async function h2SanityProblem(port: number, name: string, path: string, bytes: number): Promise<string | null> {
  if (!Bun.which("curl")) return "curl is not installed (apt-get install -y curl)";
  // -k as the HTTP/1 sanity check's rejectUnauthorized: false; the bench's CA is its own.
  const argv = ["curl", "-sk", "--http2", "--resolve", `${name}:${port}:127.0.0.1`, "-o", "/dev/null"];
  argv.push("-w", "%{http_code} %{http_version} %{size_download}", `https://${name}:${port}${path}`);
  const result = await run(argv, SANITY_TIMEOUT_MS);
  const [status, version, size] = result.stdout.trim().split(" ");
  if (result.code !== 0) return `H2 ${path} failed: curl exit ${result.code} ${result.stderr.trim()}`;
  if (version !== "2") return `H2 ${path} was answered over HTTP/${version}: h2 not offered`;
  if (status !== "200") return `H2 ${path} answered ${status}`;
  return Number(size) === bytes ? null : `H2 ${path} body was ${size} bytes`;
}
