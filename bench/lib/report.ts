/**
 * Turns results into a markdown table meant to be pasted into an issue note, and into JSON for tooling.
 * Every figure carries two ratios: to direct (client → upstream, no proxy) and to nginx (the reference proxy).
 */
import { memoryLines } from "./footprint.ts";
import { BODY_LABEL, cellKey } from "./matrix.ts";
import { NOISY_FOREIGN_PERCENT } from "./noise.ts";
import { type TargetName, TRACED_TARGETS } from "./options.ts";
import { type PairedCell, pairedJson, pairedLines } from "./paired.ts";
import type { CellResult, TargetReport } from "./runner.ts";

export interface RunMeta {
  startedAt: string;
  finishedAt: string;
  machine: string;
  isolated: boolean;
  cpuLayout: string;
  /** Seconds the run paused for other processes' load to pass. */
  quietWaitedS: number;
  wrkThreads: number;
  durationS: number;
  warmupS: number;
  workers: number;
  /** Interleaved passes over the targets; each row is its cell's median round. */
  rounds: number;
  /** --pairs: passes per cell of the paired measurement; 0 for the matrix. */
  pairs: number;
  certSource: string;
  upstream: string;
}

const ROW_ORDER: TargetName[] = [
  "direct",
  "nginx",
  "caddy",
  "portless",
  "bun-floor",
  "gotunnel",
  "gotunnel-otel",
  "gotunnel-otel-all",
];
const TRACED: readonly TargetName[] = TRACED_TARGETS;

type Metric = "rps" | "p50Us" | "p99Us" | "rss" | "cpu";

function metric(result: CellResult | undefined, which: Metric): number | null {
  if (!result?.wrk) return null;
  if (which === "rss") return result.rssPeakKiB;
  if (which === "cpu") return result.cpuUsPerRequest ?? null;
  return which === "rps" ? result.wrk.rps : result.wrk[which];
}

function numericRatio(value: number | null, base: number | null): number | null {
  return value === null || base === null || base === 0 ? null : value / base;
}

function ratio(value: number | null, base: number | null): string {
  return numericRatio(value, base)?.toFixed(2) ?? "–";
}

export function formatLatency(us: number): string {
  if (us < 1000) return `${Math.round(us)} µs`;
  return us < 1_000_000 ? `${(us / 1000).toFixed(2)} ms` : `${(us / 1_000_000).toFixed(2)} s`;
}

function formatValue(which: Metric, value: number): string {
  if (which === "rps") return Math.round(value).toLocaleString("en-US");
  if (which === "cpu") return `${value.toFixed(1)} µs`;
  return which === "rss" ? `${(value / 1024).toFixed(1)} MiB` : formatLatency(value);
}

function formatErrors(result: CellResult): string {
  const wrk = result.wrk;
  if (!wrk) return "–";
  const { connect, read, write, timeout, status } = wrk.errors;
  const parts = Object.entries({ connect, read, write, timeout, "non-2xx/3xx": status })
    .filter(([, count]) => count > 0)
    .map(([kind, count]) => `${kind} ${count}`);
  return parts.length === 0 ? "0" : `${wrk.errorsTotal} (${parts.join(", ")})`;
}

/** "41,230 (0.45 / 0.98)": value, ratio to direct, ratio to nginx. */
function figure(which: Metric, row: CellResult, peers: Map<TargetName, CellResult>): string {
  const value = metric(row, which);
  if (value === null) return "–";
  const direct = which === "rss" || which === "cpu" ? null : metric(peers.get("direct"), which);
  return `${formatValue(which, value)} (${ratio(value, direct)} / ${ratio(value, metric(peers.get("nginx"), which))})`;
}

function groupByCell(results: CellResult[]): Map<string, Map<TargetName, CellResult>> {
  const groups = new Map<string, Map<TargetName, CellResult>>();
  for (const result of results) {
    const key = cellKey(result.proto, result.size, result.load);
    const group = groups.get(key) ?? new Map<TargetName, CellResult>();
    group.set(result.target, result);
    groups.set(key, group);
  }
  return groups;
}

function tableRows(results: CellResult[]): string[] {
  const rows = [
    "| proto | body | load | proxy | req/s | p50 | p99 | errors | peak RSS | CPU/req |",
    "|---|---|---|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const peers of groupByCell(results).values()) {
    for (const name of ROW_ORDER) {
      const row = peers.get(name);
      if (!row) continue;
      const scenario = `| ${row.proto.toUpperCase()} | ${BODY_LABEL[row.size]} | ${row.load} | ${name} |`;
      if (row.skipped) {
        rows.push(`${scenario} skipped: ${row.skipped.replaceAll("|", "/").replaceAll("\n", " ")} | | | | | |`);
        continue;
      }
      const figures = (["rps", "p50Us", "p99Us"] as const).map((which) => figure(which, row, peers));
      if ((row.foreignCpuPercent ?? 0) > NOISY_FOREIGN_PERCENT) figures[0] += " ⚠";
      const costs = `${figure("rss", row, peers)} | ${figure("cpu", row, peers)}`;
      rows.push(`${scenario} ${figures.join(" | ")} | ${formatErrors(row)} | ${costs} |`);
    }
  }
  return rows;
}

/**
 * The --pairs report: how the targets ran side by side, then tracing's cost per cell (median pass ratio and
 * quartiles), then each target's median req/s for scale.
 */
export function renderPairedMarkdown(meta: RunMeta, targets: TargetReport[], cells: PairedCell[]): string {
  const ran = targets.filter((target) => !target.skipped);
  const worst = Math.max(0, ...cells.map((cell) => cell.foreignCpuPercent));
  const lines = [
    `### gotunnel bench: tracing's cost by pairs, ${meta.startedAt}`,
    "",
    `- Machine: ${meta.machine}. CPUs ${meta.cpuLayout}.`,
    `- Client: \`wrk -t${meta.wrkThreads}\`, ${meta.durationS} s per run; each target had a ${meta.warmupS} s warm-up per` +
      ' cell. "new conn" sends `Connection: close`.',
    `- Upstream: ${meta.upstream}.`,
    `- Side by side (each idle while another is measured): ${ran.map((target) => `${target.name}: ${target.version}`).join("; ")}.`,
    `- ${meta.pairs} passes per cell; each pass ran every target once, in an order rotated pass by pass.`,
    `- Other processes used at most ${worst}% of the machine's CPU during any run.`,
  ];
  if (meta.isolated) lines.push("- Ran in private net/mount/pid namespaces: loopback only, private /etc/hosts.");
  for (const target of ran) if (target.note) lines.push(`- ${target.name}: ${target.note}`);
  for (const target of targets.filter((target) => target.skipped)) {
    lines.push(`- Skipped ${target.name}: ${target.skipped}`);
  }
  const medians = cells.flatMap((cell) =>
    Object.entries(cell.rps).map(([name, rps]) => {
      const median = Math.round([...rps].sort((a, b) => a - b)[Math.floor((rps.length - 1) / 2)] ?? 0);
      return `- ${cell.proto} ${cell.size} ${cell.load}, ${name}: ${median.toLocaleString("en-US")}`;
    }),
  );
  return [...lines, "", ...pairedLines(cells, meta.pairs), "Median req/s of each target:", "", ...medians, ""].join(
    "\n",
  );
}

export function renderPairedJson(meta: RunMeta, targets: TargetReport[], cells: PairedCell[]): string {
  return `${JSON.stringify({ meta, targets, paired: pairedJson(cells) }, null, 2)}\n`;
}

function headerLines(meta: RunMeta, targets: TargetReport[]): string[] {
  const ran = targets.filter((target) => !target.skipped);
  const skipped = targets.filter((target) => target.skipped);
  const proxies = ran.filter((target) => target.name !== "direct");
  const lines = [
    `### gotunnel bench, ${meta.startedAt}`,
    "",
    `- Machine: ${meta.machine}. CPUs ${meta.cpuLayout}.`,
    `- Client: \`wrk -t${meta.wrkThreads} --latency\`, ${meta.durationS} s per cell after a ${meta.warmupS} s warm-up;` +
      ' "new conn" sends `Connection: close` (a new TCP/TLS connection per request).',
    `- Upstream: ${meta.upstream}. "direct" is wrk → upstream with no proxy (its TLS port for HTTPS).`,
    `- Proxies (one at a time): ${proxies.map((target) => target.version).join("; ")}.`,
    "  One worker each for the headline comparison, because gotunnel serves from a single JS thread.",
    `- TLS: ECDSA P-256 leaf signed by ${meta.certSource}, session tickets on; wrk sends SNI 127.0.0.1 and` +
      " `Host: bench.local` (gotunnel answers with its default certificate).",
    `- Negotiated with an OpenSSL client like wrk's: ${ran.map((target) => `${target.name} ${target.tls}`).join("; ")}.`,
    "- H2 cells: `h2load -c50 -m10` (50 connections, 10 streams in flight on each), h2 chosen by ALPN on the HTTPS" +
      " port, SNI and `:authority` bench.local; p50/p99 from its per-request log. Its errors: failed streams +" +
      " non-2xx/3xx responses.",
    "- Keep-alive c=1 cells: `h2load --h1 -c1` (SNI and Host bench.local), p50/p99 from its per-request log. wrk's" +
      " latencies at one connection add up to more than the run's length (mean × req/s was 4.0 against nginx):" +
      " bench/lib/h2load.ts.",
    "- Each figure is followed by (ratio to direct / ratio to nginx). req/s: higher is better; p50, p99, peak RSS" +
      " (summed over the proxy's processes, sampled every 200 ms) and CPU/req (user + system time of the proxy's" +
      " processes over the measured run, per completed request): lower is better. Errors = wrk socket errors +" +
      " non-2xx/3xx responses.",
  ];
  if (meta.rounds > 1) {
    lines.push(
      `- ${meta.rounds} rounds: the targets ran in turn, ${meta.rounds} times over; each row is that cell's median` +
        " round by req/s (its latencies and RSS from the same round), and every round's req/s is listed below the table.",
    );
  }
  if (meta.isolated) lines.push("- Ran in private net/mount/pid namespaces: loopback only, private /etc/hosts.");
  for (const target of ran) if (target.note) lines.push(`- ${target.name}: ${target.note}`);
  for (const target of skipped) lines.push(`- Skipped ${target.name}: ${target.skipped}`);
  return lines;
}

function noiseLine(meta: RunMeta, results: CellResult[]): string {
  const noisy = results.filter((row) => (row.foreignCpuPercent ?? 0) > NOISY_FOREIGN_PERCENT);
  const worst = Math.max(0, ...results.map((row) => row.foreignCpuPercent ?? 0));
  const waited = meta.quietWaitedS > 0 ? ` The run paused ${meta.quietWaitedS} s for other load to pass.` : "";
  if (noisy.length === 0) {
    return `- Other processes used at most ${worst}% of the machine's CPU during any measured run.${waited}`;
  }
  return (
    `- ⚠ marks ${noisy.length} of ${results.length} cells during which other processes used more than` +
    ` ${NOISY_FOREIGN_PERCENT}% of the machine's CPU (worst ${worst}%): rerun those on a quiet machine.${waited}`
  );
}

export function renderMarkdown(meta: RunMeta, targets: TargetReport[], results: CellResult[]): string {
  const rounds = roundLines(results);
  const cost = tracingCostLines(results);
  return [
    ...headerLines(meta, targets),
    noiseLine(meta, results),
    "",
    ...tableRows(results),
    "",
    ...memoryLines(targets, results),
    ...cost,
    ...rounds,
  ].join("\n");
}

/**
 * A traced target's req/s over gotunnel's in the same cell: tracing's cost, as one number per cell. With rounds, the
 * ratio of the median rounds, then each round's own ratio (rounds ran in turn, so round i of both shared the machine's
 * state), when every round of both was measured.
 */
function tracingCostLines(results: CellResult[]): string[] {
  const lines: string[] = [];
  for (const peers of groupByCell(results).values()) {
    const base = peers.get("gotunnel");
    for (const name of TRACED) {
      const traced = peers.get(name);
      const value = numericRatio(metric(traced, "rps"), metric(base, "rps"));
      if (!traced || value === null) continue;
      const [ours, theirs] = [traced.roundsRps ?? [], base?.roundsRps ?? []];
      const each =
        ours.length > 1 && ours.length === theirs.length
          ? ` (rounds: ${ours.map((rps, i) => (rps / (theirs[i] as number)).toFixed(2)).join(", ")})`
          : "";
      lines.push(`- ${traced.proto} ${traced.size} ${traced.load}, ${name}: ${value.toFixed(2)}${each}`);
    }
  }
  if (lines.length === 0) return [];
  return ["Tracing's cost, as req/s over gotunnel's in the same cell:", "", ...lines, ""];
}

/** With --rounds: each cell's req/s in every round, in run order, so the spread behind each median is visible. */
function roundLines(results: CellResult[]): string[] {
  const measured = results.filter((result) => result.roundsRps !== undefined);
  if (measured.length === 0) return [];
  const lines = measured.map((result) => {
    const values = (result.roundsRps ?? []).map((rps) => rps.toLocaleString("en-US")).join(", ");
    return `- ${result.proto} ${result.size} ${result.load}, ${result.target}: ${values}`;
  });
  return ["Req/s in each round:", "", ...lines, ""];
}

function jsonRatios(result: CellResult, base: CellResult | undefined) {
  const of = (which: Metric) => {
    const value = numericRatio(metric(result, which), metric(base, which));
    return value === null ? null : Number(value.toFixed(3));
  };
  return { rps: of("rps"), p50: of("p50Us"), p99: of("p99Us"), rss: of("rss"), cpu: of("cpu") };
}

export function renderJson(meta: RunMeta, targets: TargetReport[], results: CellResult[]): string {
  const groups = groupByCell(results);
  const cells = results.map((result) => {
    const peers = groups.get(cellKey(result.proto, result.size, result.load));
    return {
      ...result,
      ratioToDirect: jsonRatios(result, peers?.get("direct")),
      ratioToNginx: jsonRatios(result, peers?.get("nginx")),
      ...(TRACED.includes(result.target) ? { ratioToGotunnel: jsonRatios(result, peers?.get("gotunnel")) } : {}),
    };
  });
  return `${JSON.stringify({ meta, targets, cells }, null, 2)}\n`;
}
