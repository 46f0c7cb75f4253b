/**
 * The Prometheus text exposition format (version 0.0.4), written by hand so the daemon needs no client library.
 * Spec: https://prometheus.io/docs/instrumenting/exposition_formats/ — checked in tests with `promtool check metrics`.
 */

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels?: Labels;
  value: number;
}

/** One histogram series: `counts[i]` observations fell in (bounds[i-1], bounds[i]]; `counts` has one more entry, for +Inf. */
export interface HistogramSeries {
  labels?: Labels;
  bounds: readonly number[];
  counts: readonly number[];
  sum: number;
}

export type Family =
  | { name: string; help: string; type: "counter" | "gauge"; samples: readonly Sample[] }
  | { name: string; help: string; type: "histogram"; series: readonly HistogramSeries[] };

/** Label values escape backslash, double quote and newline (the spec's three escapes). */
export function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/** HELP text escapes only backslash and newline. */
function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

function formatLabels(labels: Labels | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return "";
  return `{${entries.map(([key, value]) => `${key}="${escapeLabelValue(value)}"`).join(",")}}`;
}

function line(name: string, labels: Labels | undefined, value: number): string {
  return `${name}${formatLabels(labels)} ${formatValue(value)}\n`;
}

/** Buckets are cumulative (each `le` counts everything at or below it), ending with `le="+Inf"` equal to `_count`. */
function histogramLines(name: string, series: HistogramSeries): string {
  let out = "";
  let cumulative = 0;
  series.bounds.forEach((bound, index) => {
    cumulative += series.counts[index] ?? 0;
    out += line(`${name}_bucket`, { ...series.labels, le: formatValue(bound) }, cumulative);
  });
  cumulative += series.counts[series.bounds.length] ?? 0;
  out += line(`${name}_bucket`, { ...series.labels, le: "+Inf" }, cumulative);
  out += line(`${name}_sum`, series.labels, series.sum);
  out += line(`${name}_count`, series.labels, cumulative);
  return out;
}

export function writeFamily(family: Family): string {
  let out = `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
  if (family.type === "histogram") for (const series of family.series) out += histogramLines(family.name, series);
  else for (const sample of family.samples) out += line(family.name, sample.labels, sample.value);
  return out;
}

export function writeExposition(families: readonly Family[]): string {
  return families.map(writeFamily).join("");
}

/** The Content-Type Prometheus scrapers expect for this format. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
