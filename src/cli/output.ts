/**
 * The only module that prints. Human output goes through consola (stderr for messages) and plain stdout writes for
 * tables and request logs; `--json` output is one JSON document (or one JSON line per event) on stdout.
 */
import { consola } from "consola";
import { type GotunnelError, isGotunnelError } from "../core/errors.ts";
import { redactSecrets } from "../core/redact.ts";
import type { DeliveryLine, RequestEventLine } from "../daemon/control/protocol.ts";

export type LogFormat = "text" | "json";

/** A request as `up` and `logs` print it; `time` (ISO) is set by the daemon's log, else the time of printing. */
export type RequestLogRecord = Omit<RequestEventLine, "event"> & { time?: string };

/** A daemon log line's trace context (telemetry/span-ids.ts). */
export interface SpanIds {
  traceId: string;
  spanId: string;
}

const useColor = process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (code: number, text: string) => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text);
export const dim = (text: string) => paint(2, text);
export const bold = (text: string) => paint(1, text);
const green = (text: string) => paint(32, text);
const yellow = (text: string) => paint(33, text);
const red = (text: string) => paint(31, text);

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLine(text = ""): void {
  process.stdout.write(`${text}\n`);
}

/** A status line on stderr, for commands whose stdout belongs to someone else (`run`'s child command). */
export function note(message: string): void {
  process.stderr.write(`gotunnel: ${message}\n`);
}

export function info(message: string): void {
  consola.info(message);
}

export function warn(message: string): void {
  consola.warn(message);
}

export function success(message: string): void {
  consola.success(message);
}

/** A two-column table: `  left   → right`, left column padded to its widest cell. */
export function printPairs(rows: [string, string][]): void {
  const width = Math.max(0, ...rows.map(([left]) => left.length));
  for (const [left, right] of rows) printLine(`  ${bold(left.padEnd(width))}  ${dim("→")} ${right}`);
}

function statusColor(status: number): (text: string) => string {
  if (status >= 500) return red;
  if (status >= 400) return yellow;
  return green;
}

/**
 * Request log lines, written in batches: one stdout write per event-loop turn instead of one per request keeps the
 * log cheap at tens of thousands of requests per second.
 */
export function createRequestLog(format: LogFormat): (record: RequestLogRecord) => void {
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const text = pending.join("");
    pending = [];
    process.stdout.write(text);
  };
  return (record) => {
    pending.push(format === "json" ? jsonLine(record) : textLine(record));
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

/** One request, unbatched: `gotunnel logs` prints a few lines, then one per request as it follows. */
export function printRequest(format: LogFormat, record: RequestLogRecord): void {
  process.stdout.write(format === "json" ? jsonLine(record) : textLine(record));
}

/** `up` shows requests as they happen; `logs` shows history, so its lines start with the (local) time of day. */
function textLine(record: RequestLogRecord): string {
  const ms = record.durationMs < 10 ? record.durationMs.toFixed(1) : Math.round(record.durationMs).toString();
  const status = statusColor(record.status)(String(record.status));
  const when = record.time === undefined ? "" : `${dim(new Date(record.time).toTimeString().slice(0, 8))} `;
  return `  ${when}${record.method.padEnd(6)} ${record.host} ${record.path}  ${status}  ${dim(`${ms}ms`)}\n`;
}

function jsonLine(record: RequestLogRecord): string {
  const { time = new Date().toISOString(), ...rest } = record;
  return `${JSON.stringify({ time, ...rest, durationMs: Math.round(record.durationMs * 100) / 100 })}\n`;
}

/** One webhook delivery's outcome, as `gotunnel logs --webhooks` shows it. */
export function printDelivery(line: DeliveryLine): void {
  const when = dim(new Date(line.time).toTimeString().slice(0, 8));
  const answer = line.status === undefined ? (line.error ?? "") : `HTTP ${line.status}`;
  const color = line.outcome === "delivered" ? green : line.outcome === "retrying" ? yellow : red;
  const retry = line.retryInMs === undefined ? "" : `, next in ${line.retryInMs / 1000}s`;
  const what = `${color(line.outcome)} ${answer} (attempt ${line.attempt}${retry})`;
  printLine(`  ${when} ${line.event.padEnd(20)} ${line.url}  ${what}`);
}

/**
 * The daemon's own log (daemon.log). Text goes through consola as elsewhere; JSON is one `{time, level, msg}` object
 * per line, with `traceId`/`spanId` when written inside a span, so a log line and its trace can be joined.
 */
export function createDaemonLog(
  format: LogFormat,
  spanIds: () => SpanIds | undefined,
): (level: "info" | "warn", message: string) => void {
  // Every line passes here, so no message can put a URL's credentials in the log file (core/redact.ts).
  if (format === "text") return (level, message) => (level === "warn" ? warn : info)(redactSecrets(message));
  return (level, message) => {
    const record = { time: new Date().toISOString(), level, msg: redactSecrets(message), ...spanIds() };
    process.stderr.write(`${JSON.stringify(record)}\n`);
  };
}

/**
 * Prints an error the way users should see it. Returns the exit code to use. Errors quote what was typed (a config
 * value, a URL), so credentials in URLs are redacted here, in every form the error takes (core/redact.ts).
 */
export function printError(error: unknown, options: { json: boolean; debug: boolean }): number {
  const out = (stream: NodeJS.WriteStream, text: string) => stream.write(`${redactSecrets(text)}\n`);
  if (isGotunnelError(error)) {
    if (options.json) out(process.stdout, JSON.stringify({ error: errorRecord(error) }, null, 2));
    else {
      out(process.stderr, `${red("error")} ${error.message}`);
      if (error.hint) out(process.stderr, `${dim("hint")}  ${error.hint}`);
      if (options.debug && error.cause) out(process.stderr, String((error.cause as Error).stack ?? error.cause));
    }
    return error.exitCode;
  }
  process.stderr.write(`${red("gotunnel crashed")} — this is a bug; please report it with the trace below.\n`);
  out(process.stderr, error instanceof Error ? (error.stack ?? error.message) : String(error));
  return 1;
}

function errorRecord(error: GotunnelError) {
  return {
    code: error.code,
    message: error.message,
    hint: error.hint,
    exitCode: error.exitCode,
    details: error.details,
  };
}

/** Left-aligned columns, each padded to its widest cell; the first row is the header. */
export function printTable(rows: string[][]): void {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  rows.forEach((row, index) => {
    const line = row
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd();
    printLine(index === 0 ? bold(line) : line);
  });
}

/** Route name colours for dev server output (cyan, magenta, blue, yellow, green, bright cyan), in route order. */
const ROUTE_COLORS = [36, 35, 34, 33, 32, 96] as const;

export interface DevOutput {
  /** One whole line of a dev server's output, prefixed by its route's name. */
  line(name: string, stream: "stdout" | "stderr", text: string): void;
  /** While waiting for the servers: a spinner on a terminal, a line every few seconds otherwise. */
  waiting(names: string[], elapsedMs: number): void;
  /** The wait is over: clears the spinner. */
  doneWaiting(): void;
}

/** How often a non-terminal gets a "still waiting" line. */
const WAITING_LINE_EVERY_MS = 5_000;
const SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";

/**
 * Dev server output, each line written whole with one write so lines never mix. `json`: stdout keeps only JSON
 * lines (the ready line, requests, exits), so the servers' output goes to stderr, still prefixed.
 */
export function createDevOutput(names: string[], json: boolean): DevOutput {
  const width = Math.max(0, ...names.map((name) => name.length));
  const colors = new Map(names.map((name, index) => [name, ROUTE_COLORS[index % ROUTE_COLORS.length] as number]));
  const spinning = process.stderr.isTTY === true && !json;
  let spinnerShown = false;
  let lastWaitingLine = 0;
  const clearSpinner = () => {
    if (spinnerShown) process.stderr.write("\r\x1b[2K");
    spinnerShown = false;
  };
  return {
    line(name, stream, text) {
      clearSpinner();
      const prefix = paint(colors.get(name) ?? 0, name.padEnd(width));
      const out = json || stream === "stderr" ? process.stderr : process.stdout;
      out.write(`${prefix} ${dim("│")} ${text}\n`);
    },
    waiting(waitingFor, elapsedMs) {
      const seconds = Math.floor(elapsedMs / 1000);
      const what = `waiting for ${waitingFor.join(", ")} to answer (${seconds}s)`;
      if (spinning) {
        const frame = SPINNER[Math.floor(elapsedMs / 100) % SPINNER.length];
        process.stderr.write(`\r\x1b[2K${frame} ${what}`);
        spinnerShown = true;
      } else if (elapsedMs - lastWaitingLine >= WAITING_LINE_EVERY_MS) {
        lastWaitingLine = elapsedMs;
        note(what);
      }
    },
    doneWaiting: clearSpinner,
  };
}

/** A dev server's command exited while `up` runs: its code and last lines, as text or as one JSON line. */
export function printDevExit(
  exit: { name: string; description: string; code: number | null; signal: string | null; lastLines: string[] },
  json: boolean,
): void {
  if (json) {
    const { description: _description, ...rest } = exit;
    printLine(JSON.stringify({ event: "exit", ...rest }));
    return;
  }
  const last =
    exit.lastLines.length === 0 ? "" : `; its last lines:\n${exit.lastLines.map((l) => `    ${l}`).join("\n")}`;
  warn(`${exit.name}: ${exit.description}${last}`);
}

/** One route of `gotunnel doctor routes`: fine, no answer, or which framework refused the name and the fixes. */
export function printRouteCheck(check: {
  name: string;
  target: string;
  status?: number;
  problem?: string;
  refusal?: { framework: string; refused: string; fixes: string[] };
  logged: string[];
}): void {
  if (check.problem) warn(`${check.name}: ${check.problem}`);
  else if (check.refusal) {
    warn(`${check.name}: ${check.refusal.framework} refused ${check.refusal.refused}. Fix it with one of:`);
    for (const fix of check.refusal.fixes) printLine(`    ${fix}`);
  } else success(`${check.name}: ${check.target} answers GET / with ${check.status}`);
  for (const line of check.logged) warn(`${check.name}: the proxy logged: ${line}`);
}
