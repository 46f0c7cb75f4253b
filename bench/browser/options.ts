/**
 * Command-line options of `bun run bench:browser`. Parsed once in bench/browser.ts; everything else receives a
 * BrowserBenchOptions.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseDurationS, REPO_ROOT } from "../lib/options.ts";

export const BROWSER_TARGETS = ["direct", "gotunnel", "caddy", "nginx", "portless"] as const;
export type BrowserTargetName = (typeof BROWSER_TARGETS)[number];

export const CONDITIONS = ["loopback", "far"] as const;
export type Condition = (typeof CONDITIONS)[number];

export interface BrowserBenchOptions {
  /** Measured loads per target and condition, interleaved: each round loads every target once. */
  rounds: number;
  /** Unmeasured loads per target and condition before the first round. */
  warmup: number;
  /** Modules in the generated app, its entry included. */
  modules: number;
  only: BrowserTargetName[];
  conditions: Condition[];
  /** Round-trip time the far condition adds, ms. */
  rttMs: number;
  /** Give up on one page load after this long, ms. */
  loadTimeoutMs: number;
  json: boolean;
  /** gotunnel to start: a .ts entry runs under bun, anything else is executed. */
  binary: string;
  isolate: boolean;
  pin: boolean;
  /** Keep the temp dir (configs, logs) after a successful run too. */
  keep: boolean;
  /** Total time the run may idle waiting for other processes' load to pass (see lib/noise.ts). */
  quietWaitS: number;
}

export const USAGE = `bun run bench:browser [options]

  --rounds <15>       measured cold loads per target and network condition, interleaved (each round loads
                      every target once, in an order rotated round by round)
  --warmup <2>        unmeasured loads per target and condition first (Vite transforms, JIT, pools)
  --quick             --rounds 5 --warmup 1
  --modules <1500>    ES modules in the generated Vite app, its entry included
  --only <list>       comma-separated subset of: ${BROWSER_TARGETS.join(",")} (direct is always run as the baseline)
  --conditions <list> loopback, far or both (default): far puts the browser behind a link with --rtt added
  --rtt <5ms>         round-trip time of the far link
  --load-timeout <60s>  give up on one page load after this long
  --json              also write bench/results/browser-<timestamp>.json
  --binary <path>     gotunnel to start: dist/gotunnel (default) or src/main.ts (run with bun)
  --quiet-wait <180s> total time the run may pause for other processes' CPU load to pass (0: never wait)
  --keep              keep the temp dir with every config and log (it is kept anyway when the run fails)
  --no-pin            let the scheduler place the browser and the servers instead of one CPU each
  --no-isolate        do not wrap the run in private namespaces (isolation needs root; the far condition needs it)
  -h, --help          this text`;

function positiveInt(text: string | undefined, flag: string, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`${flag} must be an integer ≥ ${min}, got "${text}"`);
  return value;
}

function parseList<T extends string>(text: string | undefined, known: readonly T[], flag: string): T[] {
  if (!text) return [...known];
  const wanted = text.split(",").map((name) => name.trim().toLowerCase());
  for (const name of wanted) {
    if (!(known as readonly string[]).includes(name)) {
      throw new Error(`${flag}: unknown value "${name}" (known: ${known.join(", ")})`);
    }
  }
  return known.filter((name) => wanted.includes(name));
}

/** Returns null when --help was asked for. Throws with a readable message on bad input. */
export function parseBrowserOptions(argv: string[]): BrowserBenchOptions | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: "string" },
      warmup: { type: "string" },
      quick: { type: "boolean" },
      modules: { type: "string" },
      only: { type: "string" },
      conditions: { type: "string" },
      rtt: { type: "string" },
      "load-timeout": { type: "string" },
      json: { type: "boolean" },
      binary: { type: "string" },
      "quiet-wait": { type: "string" },
      keep: { type: "boolean" },
      "no-pin": { type: "boolean" },
      "no-isolate": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return null;
  const quick = values.quick ?? false;
  const only = parseList(values.only, BROWSER_TARGETS, "--only");
  const rttMs = parseDurationS(values.rtt ?? "5ms") * 1000;
  if (!(rttMs > 0)) throw new Error(`--rtt must be above 0, got "${values.rtt}"`);
  return {
    rounds: positiveInt(values.rounds, "--rounds", quick ? 5 : 15),
    warmup: positiveInt(values.warmup, "--warmup", quick ? 1 : 2, 0),
    modules: positiveInt(values.modules, "--modules", 1500, 2),
    // Direct is the denominator of every ratio, so it always runs.
    only: BROWSER_TARGETS.filter((name) => name === "direct" || only.includes(name)),
    conditions: parseList(values.conditions, CONDITIONS, "--conditions"),
    rttMs,
    loadTimeoutMs: parseDurationS(values["load-timeout"] ?? "60s") * 1000,
    json: values.json ?? false,
    binary: resolve(values.binary ?? `${REPO_ROOT}/dist/gotunnel`),
    isolate: !(values["no-isolate"] ?? false),
    pin: !(values["no-pin"] ?? false),
    keep: values.keep ?? false,
    quietWaitS: parseDurationS(values["quiet-wait"] ?? "180s"),
  };
}
