/**
 * The browser bench's markdown table, meant for an issue's closing note, and its JSON. Times are medians with
 * quartiles; ratios are medians of round-by-round ratios (stats.ts), with quartiles.
 */
import { NOISY_FOREIGN_PERCENT } from "../lib/noise.ts";
import { DIRECT_CONNECTIONS, FETCH_STREAMS } from "./fetch-all.ts";
import { BROWSER_TARGETS, type BrowserTargetName, type Condition } from "./options.ts";
import { protocolsOf, ratioSummary, type Series, type Summary, summarize } from "./stats.ts";

export interface BrowserRunMeta {
  startedAt: string;
  finishedAt: string;
  machine: string;
  browser: string;
  app: string;
  rounds: number;
  warmup: number;
  cpuLayout: string;
  /** How the far condition was made and what ping measured over it; null without it. */
  farLink: string | null;
  rttMs: number;
  quietWaitedS: number;
}

export interface TargetInfo {
  name: BrowserTargetName;
  version?: string;
  skipped?: string;
}

const CONDITION_LABEL: Record<Condition, (rttMs: number) => string> = {
  loopback: () => "loopback",
  far: (rttMs) => `${rttMs} ms RTT`,
};

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

function formatSummary(summary: Summary | null): string {
  if (!summary) return "failed";
  const failed = summary.failed > 0 ? `, ${summary.failed} failed` : "";
  return `${formatMs(summary.median)} (${formatMs(summary.q1)}–${formatMs(summary.q3)}${failed})`;
}

function formatRatio(ratio: { q1: number; median: number; q3: number } | null): string {
  return ratio ? `${ratio.median.toFixed(2)} (${ratio.q1.toFixed(2)}–${ratio.q3.toFixed(2)})` : "–";
}

function find(series: Series[], target: BrowserTargetName, condition: Condition): Series | undefined {
  return series.find((one) => one.target === target && one.condition === condition);
}

function tableRows(series: Series[], conditions: Condition[]): string[] {
  const targets = BROWSER_TARGETS.filter((name) => series.some((one) => one.target === name));
  return targets.map((name) => {
    const all = series.filter((one) => one.target === name).flatMap((one) => one.samples);
    const cells = conditions.flatMap((condition) => {
      const own = find(series, name, condition);
      const direct = find(series, "direct", condition);
      if (!own) return ["–", "–"];
      const ratio = name === "direct" ? "1.00" : formatRatio(ratioSummary(own.samples, direct?.samples ?? []));
      return [formatSummary(summarize(own.samples)), ratio];
    });
    return `| ${name} | ${protocolsOf(all)} | ${cells.join(" | ")} |`;
  });
}

interface Goal {
  condition: Condition;
  text: string;
  /** The ratio's numerator and denominator, and the bound the median must meet. */
  over: [BrowserTargetName, BrowserTargetName];
  atLeast?: number;
  atMost?: number;
}

/** Issue 16's "Done means" for the browser bench. */
function goals(rttMs: number): Goal[] {
  const far = `${rttMs} ms RTT`;
  const noSlower = (peer: BrowserTargetName): Goal => ({
    condition: "far",
    text: `${far}: gotunnel no slower than ${peer}`,
    over: ["gotunnel", peer],
    atMost: 1,
  });
  return [
    {
      condition: "loopback",
      text: "loopback: gotunnel no slower than direct",
      over: ["gotunnel", "direct"],
      atMost: 1,
    },
    {
      condition: "far",
      text: `${far}: gotunnel at least 2× faster than direct`,
      over: ["direct", "gotunnel"],
      atLeast: 2,
    },
    noSlower("caddy"),
    noSlower("nginx"),
    noSlower("portless"),
  ];
}

function goalLines(series: Series[], rttMs: number): string[] {
  return goals(rttMs).map((goal) => {
    const [a, b] = goal.over.map((name) => find(series, name, goal.condition));
    if (!a || !b) return `- ${goal.text}: not measured`;
    const ratio = ratioSummary(a.samples, b.samples);
    if (!ratio) return `- ${goal.text}: no round where both loaded`;
    const met = goal.atLeast !== undefined ? ratio.median >= goal.atLeast : ratio.median <= (goal.atMost ?? 1);
    const bound = goal.atLeast !== undefined ? `≥ ${goal.atLeast}` : `≤ ${goal.atMost}`;
    return `- ${goal.text}: ${goal.over[0]} ÷ ${goal.over[1]} = ${formatRatio(ratio)}, needs ${bound}: **${met ? "met" : "not met"}**`;
  });
}

function loadLines(series: Series[], rttMs: number): string[] {
  return series.map((one) => {
    const loads = one.samples.map((sample) => {
      if (sample.ms === null) return "✗";
      return `${Math.round(sample.ms)}${sample.foreignCpuPercent > NOISY_FOREIGN_PERCENT ? "⚠" : ""}`;
    });
    return `- ${CONDITION_LABEL[one.condition](rttMs)}, ${one.target}: ${loads.join(", ")}`;
  });
}

function failureLines(series: Series[], rttMs: number): string[] {
  return series.flatMap((one) =>
    one.samples
      .filter((sample) => sample.ms === null)
      .map(
        (sample) => `- ${CONDITION_LABEL[one.condition](rttMs)}, ${one.target}, round ${sample.round}: ${sample.error}`,
      ),
  );
}

export function renderBrowserMarkdown(
  meta: BrowserRunMeta,
  targets: TargetInfo[],
  series: Series[],
  fetches: Series[] = [],
): string {
  const conditions = (["loopback", "far"] as const).filter((condition) =>
    series.some((one) => one.condition === condition),
  );
  const all = series.flatMap((one) => one.samples);
  const noisy = all.filter((sample) => sample.foreignCpuPercent > NOISY_FOREIGN_PERCENT).length;
  const header = conditions.map(
    (condition) => `${CONDITION_LABEL[condition](meta.rttMs)}: median (quartiles) | ÷ direct`,
  );
  const lines = [
    `## Browser benchmark: cold page loads, ${meta.app}`,
    "",
    `- ${meta.startedAt} → ${meta.finishedAt}, ${meta.machine}`,
    `- ${meta.browser}`,
    `- ${meta.rounds} measured rounds after ${meta.warmup} warm-up load(s) per target and condition; each round loads every target once per condition, in an order rotated round by round`,
    `- CPU: ${meta.cpuLayout}`,
    `- Far condition: ${meta.farLink ?? "not run"}`,
    `- Other processes: ${noisy} of ${all.length} loads saw more than ${NOISY_FOREIGN_PERCENT}% of the machine busy outside the bench (⚠ below); the run waited ${Math.round(meta.quietWaitedS)} s for quiet`,
    "",
    `| target | protocol | ${header.join(" | ")} |`,
    `| --- | --- | ${conditions.map(() => "--- | ---").join(" | ")} |`,
    ...tableRows(series, conditions),
    "",
    "Times run from navigation start until the entry module ran, i.e. every module had (ES modules evaluate",
    "post-order). ÷ direct is the median of the round-by-round ratios of a target's time to direct's, quartiles in",
    "brackets: below 1 is faster than the browser talking to Vite itself.",
    "",
    ...fetchLines(fetches, conditions, header),
    "### Issue 16's targets",
    "",
    ...goalLines(series, meta.rttMs),
    "",
    "### Targets",
    "",
    ...targets.map((target) => `- ${target.name}: ${target.skipped ? `skipped: ${target.skipped}` : target.version}`),
    "",
    "### Every load (ms, round order; ⚠ other load, ✗ failed)",
    "",
    ...loadLines(series, meta.rttMs),
  ];
  const failures = failureLines(series, meta.rttMs);
  if (failures.length > 0) lines.push("", "### Failed loads", "", ...failures);
  return `${lines.join("\n")}\n`;
}

/** The h2load table (fetch-all.ts): what each server delivers across the same link when the client keeps up. */
function fetchLines(fetches: Series[], conditions: readonly Condition[], header: string[]): string[] {
  if (fetches.length === 0) return [];
  const shown = conditions.filter((condition) => fetches.some((one) => one.condition === condition));
  return [
    `### Without a browser: h2load fetching every module (one connection, ${FETCH_STREAMS} streams; direct: ${DIRECT_CONNECTIONS} HTTP/1.1 connections)`,
    "",
    `| target | protocol | ${header.slice(0, shown.length).join(" | ")} |`,
    `| --- | --- | ${shown.map(() => "--- | ---").join(" | ")} |`,
    ...tableRows(fetches, [...shown]),
    "",
    "The browser's loads above are bound by its own CPU on this machine (its receive window sits at zero hundreds",
    "of times a load); this is how fast each server hands the same modules to a client that keeps up.",
    "",
  ];
}

export function renderBrowserJson(
  meta: BrowserRunMeta,
  targets: TargetInfo[],
  series: Series[],
  fetches: Series[] = [],
): string {
  const summaries = series.map((one) => ({
    target: one.target,
    condition: one.condition,
    summary: summarize(one.samples),
    overDirect: ratioSummary(one.samples, find(series, "direct", one.condition)?.samples ?? []),
  }));
  const fetchSummaries = fetches.map((one) => ({
    target: one.target,
    condition: one.condition,
    summary: summarize(one.samples),
    overDirect: ratioSummary(one.samples, find(fetches, "direct", one.condition)?.samples ?? []),
  }));
  return `${JSON.stringify({ meta, targets, summaries, series, fetchSummaries, fetches }, null, 2)}\n`;
}
