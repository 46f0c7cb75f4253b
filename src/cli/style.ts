/**
 * How gotunnel's output looks, as pure functions: whether a stream gets colour, the SGR codes for it, and the text of
 * a message line and a request line. output.ts, the module that prints, writes what these return.
 */
import { LogLevels, type LogObject } from "consola/core";
import type { DeliveryLine, SessionSummaryLine } from "../daemon/control/protocol.ts";
import type { RequestLogRecord } from "./output.ts";

/**
 * Colour only on a terminal, and never with NO_COLOR set to anything but "" (https://no-color.org) or TERM=dumb.
 * Decided per stream: `gotunnel up 2>log` keeps colour on the terminal and none in the file.
 */
export function colorOn(stream: NodeJS.WriteStream): boolean {
  return stream.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== "dumb";
}

/** SGR codes painted for one stream, or nothing when it gets no colour. */
export function styleFor(stream: NodeJS.WriteStream) {
  const on = colorOn(stream);
  const paint = (code: number, text: string) => (on && text !== "" ? `\x1b[${code}m${text}\x1b[0m` : text);
  return {
    paint,
    dim: (text: string) => paint(2, text),
    bold: (text: string) => paint(1, text),
    cyan: (text: string) => paint(36, text),
    green: (text: string) => paint(32, text),
    yellow: (text: string) => paint(33, text),
    red: (text: string) => paint(31, text),
  };
}

export type Style = ReturnType<typeof styleFor>;

/** Braille spinner frames, as most terminal spinners draw them. */
export const SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";

/**
 * consola's levels (CONSOLA_LEVEL, DEBUG) with our own reporter: its fancy reporter decides colour once, from stdout,
 * and colours stderr lines with it. Same layout: an icon, or a badge with blank lines around for warnings and errors
 * (which go to stderr); `code` spans lose their backticks and are highlighted, like consola's.
 */
const ICONS: Record<string, [icon: string, color: number]> = {
  info: ["ℹ", 36],
  success: ["✔", 32],
  start: ["◐", 35],
  debug: ["⚙", 90],
};
const BADGE_COLOR: Record<string, number> = { warn: 43, error: 41, fatal: 41 };
const BLACK = 30;

/** One consola message as text, ending in a newline. */
export function reporterLine(logObj: Pick<LogObject, "level" | "type" | "args">, style: Style): string {
  const badge = logObj.level < 2;
  const [message = "", ...more] = logObj.args.map(String).join(" ").split("\n");
  const text = message.replace(/`([^`]+)`/g, (_, code: string) => style.cyan(code));
  const line = badge
    ? `\n${style.paint(BADGE_COLOR[logObj.type] ?? 41, style.paint(BLACK, ` ${logObj.type.toUpperCase()} `))} ${text}`
    : `${style.paint(ICONS[logObj.type]?.[1] ?? 0, ICONS[logObj.type]?.[0] ?? "")} ${text}`;
  return `${[line, ...more].join("\n")}\n${badge ? "\n" : ""}`;
}

function statusColor(status: number, style: Style): (text: string) => string {
  if (status >= 500) return style.red;
  if (status >= 400) return style.yellow;
  return style.green;
}

/** `up` shows requests as they happen; `logs` shows history, so its lines start with the (local) time of day. */
export function requestTextLine(record: RequestLogRecord, style: Style): string {
  const ms = record.durationMs < 10 ? record.durationMs.toFixed(1) : Math.round(record.durationMs).toString();
  const status = statusColor(record.status, style)(String(record.status));
  const when = record.time === undefined ? "" : `${style.dim(new Date(record.time).toTimeString().slice(0, 8))} `;
  return `  ${when}${record.method.padEnd(6)} ${record.host} ${record.path}  ${status}  ${style.dim(`${ms}ms`)}\n`;
}

/**
 * 12,345: digits grouped by threes with commas, as en-US writes them. `toLocaleString` would load ICU's number
 * formatting into the `up` process, which keeps it for hours (issue 18).
 */
export function thousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * A busy second's requests that `up` did not print one by one (daemon/control/summary.ts): one line per route, with
 * how many of each status, and where to see each request.
 */
export function requestSummaryText(summary: SessionSummaryLine, style: Style): string {
  const seconds = summary.windowMs / 1000;
  return summary.routes
    .map(({ route, count, statuses }) => {
      const byStatus = Object.entries(statuses)
        .sort(([a], [b]) => Number(a) - Number(b))
        .map(([status, n]) => `${thousands(n)} × ${statusColor(Number(status), style)(status)}`)
        .join(", ");
      const more = `${thousands(count)} more requests to ${route} in ${seconds}s (${byStatus})`;
      return `  … ${more}  ${style.dim(`each one: gotunnel logs ${route}`)}\n`;
    })
    .join("");
}

export function requestJsonLine(record: RequestLogRecord): string {
  const { time = new Date().toISOString(), ...rest } = record;
  return `${JSON.stringify({ time, ...rest, durationMs: Math.round(record.durationMs * 100) / 100 })}\n`;
}

/** One webhook delivery's outcome (`gotunnel logs --webhooks`): time of day, event, URL, outcome, answer, attempt. */
export function deliveryTextLine(line: DeliveryLine, style: Style): string {
  const when = style.dim(new Date(line.time).toTimeString().slice(0, 8));
  const answer = line.status === undefined ? (line.error ?? "") : `HTTP ${line.status}`;
  const color = line.outcome === "delivered" ? style.green : line.outcome === "retrying" ? style.yellow : style.red;
  const retry = line.retryInMs === undefined ? "" : `, next in ${line.retryInMs / 1000}s`;
  return `  ${when} ${line.event.padEnd(20)} ${line.url}  ${color(line.outcome)} ${answer} (attempt ${line.attempt}${retry})\n`;
}

/** Whether std-env (consola's) reads an environment variable as set: any value but "" and "false". */
function flagSet(value: string | undefined): boolean {
  return value ? value !== "false" : false;
}

/**
 * The level consola's full entry point (`consola`) starts at, for `consola/core`, which has none: debug with DEBUG,
 * warn under a test runner (NODE_ENV=test or TEST), else info; CONSOLA_LEVEL wins, parsed as consola parses it.
 * The full entry point also loads its fancy reporter, string-width tables and std-env's CI list when imported, which
 * the `up` process kept for its whole life while our own reporter prints everything (issue 18).
 */
export function consolaLevel(env: Record<string, string | undefined>): number {
  let level: number = LogLevels.info;
  if (flagSet(env.DEBUG)) level = LogLevels.debug;
  else if (process.env.NODE_ENV === "test" || flagSet(env.TEST)) level = LogLevels.warn;
  // biome-ignore lint/correctness/useParseIntRadix: consola parses it with none, so "0x4" means 4 in both.
  if (env.CONSOLA_LEVEL) level = Number.parseInt(env.CONSOLA_LEVEL);
  return level;
}
