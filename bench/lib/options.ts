/**
 * Command-line options of `bun run bench`. Parsed once in bench.ts; everything else receives a BenchOptions.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";

/** The traced variants of gotunnel: their cost is measured against plain gotunnel. */
export const TRACED_TARGETS = ["gotunnel-otel", "gotunnel-otel-all"] as const;

export const TARGET_NAMES = [
  "direct",
  "nginx",
  "caddy",
  "portless",
  "bun-floor",
  "gotunnel",
  "gotunnel-otel",
  "gotunnel-otel-all",
] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export interface BenchOptions {
  durationS: number;
  warmupS: number;
  quick: boolean;
  only: TargetName[];
  json: boolean;
  /** How gotunnel is started: a .ts entry runs under bun, anything else is executed as a compiled binary. */
  binary: string;
  /** wrk threads. One keeps the load generator off the second core as much as wrk allows. */
  threads: number;
  /** nginx worker_processes and Caddy's GOMAXPROCS. 1 matches gotunnel, which serves from one JS thread. */
  workers: number;
  /** Run inside private net/mount/pid namespaces (root only). */
  isolate: boolean;
  /** wrk on one CPU, the servers on another (see cpu.ts for why). */
  pin: boolean;
  /** Total time the run may idle waiting for other processes' load to pass (see noise.ts). */
  quietWaitS: number;
  /** The gotunnel-otel targets' trace sample rate (OTEL_TRACES_SAMPLER_ARG); 1, the development profile's. */
  otelSampleRate: number;
  /** Passes over the targets, interleaved; each cell reports its median pass (see bench.ts medianRounds). */
  rounds: number;
  /** With a count: tracing's cost by pairs (paired.ts) instead of the matrix; 0 when off. */
  pairs: number;
  /** Start-up samples per target after the cells (startup.ts); 0 skips them. */
  startupRuns: number;
}

export const USAGE = `bun run bench [options]

  --duration <5s>     measured time per cell (s or ms suffix; default 5s)
  --warmup <1s>       unmeasured warm-up run before each cell (0 to skip; default 1s)
  --quick             only 1 KiB: keep-alive c=50 and new-connection over HTTP and HTTPS, keep-alive c=1 and
                      c=500 over HTTPS, and the h2 cell
  --only <list>       comma-separated subset of: ${TARGET_NAMES.join(",")} (direct is always run as the baseline)
  --json              also write bench/results/<timestamp>.json
  --binary <path>     gotunnel to start: src/main.ts (run with bun, default) or a compiled binary
  --threads <1>       wrk threads
  --workers <1>       nginx worker_processes and Caddy GOMAXPROCS (more than 1 only makes sense with --no-pin)
  --quiet-wait <180s> total time the run may pause for other processes' CPU load to pass (0: never wait)
  --otel-sample-rate <1>  fraction of requests the gotunnel-otel targets trace (0.05 is the production profile's)
  --rounds <1>        run the targets this many times, interleaved (A, B, A, B, …); each cell shows its median
                      round by req/s, so a drift of the machine during the run hits every target alike
  --pairs <n>         tracing's cost only, measured by pairs: gotunnel and its traced variants run side by side and
                      each cell visits them in turn n times (try --pairs 8 --quick --duration 3s)
  --startup <5>       start-up samples per target (spawn → first 200), after the cells; 0 skips them
  --no-pin            let the scheduler place wrk and the servers instead of pinning them to one CPU each
  --no-isolate        do not wrap the run in private namespaces (isolation needs root)
  -h, --help          this text`;

const DEFAULT_STARTUP_RUNS = 5;

const REPO_ROOT = resolve(import.meta.dir, "../..");

export function parseDurationS(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new Error(`bad duration "${text}": use e.g. 5s, 500ms or 1m`);
  const value = Number(match[1]);
  const unit = match[2] ?? "s";
  if (unit === "ms") return value / 1000;
  return unit === "m" ? value * 60 : value;
}

function parseOnly(text: string | undefined): TargetName[] {
  if (!text) return [...TARGET_NAMES];
  const wanted = text.split(",").map((name) => name.trim().toLowerCase());
  for (const name of wanted) {
    if (!(TARGET_NAMES as readonly string[]).includes(name)) {
      throw new Error(`--only: unknown target "${name}" (known: ${TARGET_NAMES.join(", ")})`);
    }
  }
  // Direct is the denominator of every ratio, so it always runs.
  return TARGET_NAMES.filter((name) => name === "direct" || wanted.includes(name));
}

function positiveInt(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} must be a positive integer, got "${text}"`);
  return value;
}

/** Returns null when --help was asked for. Throws with a readable message on bad input. */
export function parseOptions(argv: string[]): BenchOptions | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: "string" },
      warmup: { type: "string" },
      quick: { type: "boolean" },
      only: { type: "string" },
      json: { type: "boolean" },
      binary: { type: "string" },
      threads: { type: "string" },
      workers: { type: "string" },
      "no-isolate": { type: "boolean" },
      "no-pin": { type: "boolean" },
      "quiet-wait": { type: "string" },
      "otel-sample-rate": { type: "string" },
      rounds: { type: "string" },
      pairs: { type: "string" },
      startup: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return null;
  const durationS = parseDurationS(values.duration ?? "5s");
  if (durationS < 1) throw new Error("--duration must be at least 1s (wrk rounds to whole seconds)");
  const only = parseOnly(values.only);
  const pairs = values.pairs === undefined ? 0 : positiveInt(values.pairs, "--pairs", 1);
  if (pairs > 0 && !(only.includes("gotunnel") && TRACED_TARGETS.some((name) => only.includes(name)))) {
    throw new Error(
      `--pairs compares gotunnel with ${TRACED_TARGETS.join(" or ")}: --only must name gotunnel and one of them`,
    );
  }
  return {
    durationS: Math.round(durationS),
    warmupS: Math.round(parseDurationS(values.warmup ?? "1s")),
    quick: values.quick ?? false,
    only,
    json: values.json ?? false,
    binary: resolve(values.binary ?? `${REPO_ROOT}/src/main.ts`),
    threads: positiveInt(values.threads, "--threads", 1),
    workers: positiveInt(values.workers, "--workers", 1),
    isolate: !(values["no-isolate"] ?? false),
    pin: !(values["no-pin"] ?? false),
    quietWaitS: parseDurationS(values["quiet-wait"] ?? "180s"),
    otelSampleRate: sampleRate(values["otel-sample-rate"]),
    rounds: positiveInt(values.rounds, "--rounds", 1),
    pairs,
    startupRuns: values.startup === "0" ? 0 : positiveInt(values.startup, "--startup", DEFAULT_STARTUP_RUNS),
  };
}

function sampleRate(text: string | undefined): number {
  if (text === undefined) return 1;
  const rate = Number(text);
  if (!/^\d*\.?\d+$/.test(text) || rate > 1) throw new Error(`--otel-sample-rate expects 0 to 1, got "${text}"`);
  return rate;
}

export { REPO_ROOT };
