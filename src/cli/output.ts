/**
 * The only module that prints. Human output goes through consola (info and success on stdout, warnings and errors
 * on stderr, as consola splits them) and plain stdout writes for tables and request logs; progress lines go to
 * stderr on a terminal. `--json` output is JSON Lines (https://jsonlines.org): one JSON object per line on stdout,
 * errors included, so `up --json | jq -c` and any line reader work whatever the command printed before it failed.
 */
import { writeSync } from "node:fs";
import { type ConsolaReporter, createConsola, type LogObject } from "consola/core";
import { ExitCode, type GotunnelError, isGotunnelError } from "../core/errors.ts";
import { redactSecrets } from "../core/redact.ts";
import type { DeliveryLine, RequestEventLine, SessionSummaryLine } from "../daemon/control/protocol.ts";
import {
  consolaLevel,
  deliveryTextLine,
  reporterLine,
  requestJsonLine,
  requestSummaryText,
  requestTextLine,
  SPINNER,
  styleFor,
} from "./style.ts";

export { colorOn } from "./style.ts";

export type LogFormat = "text" | "json";

/** A request as `up` and `logs` print it; `time` (ISO) is set by the daemon's log, else the time of printing. */
export type RequestLogRecord = Omit<RequestEventLine, "event"> & { time?: string };

/** A daemon log line's trace context (telemetry/span-ids.ts). */
export interface SpanIds {
  traceId: string;
  spanId: string;
}

const out = styleFor(process.stdout);
const err = styleFor(process.stderr);
/** For text written to stdout. */
export const { dim, bold } = out;

/** consola's levels (CONSOLA_LEVEL, DEBUG), written through our reporter (style.ts reporterLine says why). */
const reporter: ConsolaReporter = {
  log(logObj: LogObject) {
    const toStderr = logObj.level < 2;
    write(toStderr ? process.stderr : process.stdout, reporterLine(logObj, toStderr ? err : out));
  },
};
const level = consolaLevel(process.env);
const consola = createConsola({ level, defaults: { level }, reporters: [reporter] });

/** `gotunnel help` and `--help`: bold headings, commands and flags in cyan, on a terminal only. */
export const helpStyle = { heading: out.bold, accent: out.cyan, dim: out.dim };

/** Text that is whole lines already: help (on stdout, so `gotunnel help up | less` works), a completion script. */
export function printText(text: string): void {
  write(process.stdout, text);
}

/** The terminal's width; none for a pipe, or a terminal that does not say (a pty without a size reports 0). */
export function helpWidth(): number | undefined {
  const columns = process.stdout.isTTY ? process.stdout.columns : 0;
  return columns > 0 ? columns : undefined;
}

/**
 * `gotunnel daemon --log-file F` (the Windows login task, whose output would go nowhere): from now on everything this
 * process prints, on either stream, is appended to the open file `fd` instead.
 */
export function printToFile(fd: number): void {
  const write = (chunk: string | Uint8Array): boolean => {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    // writeSync may write less than asked when the disk fills (CONTRIBUTING.md, "A full disk").
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
    return true;
  };
  process.stdout.write = write as typeof process.stdout.write;
  process.stderr.write = write as typeof process.stderr.write;
}

export function printJson(value: unknown): void {
  write(process.stdout, `${JSON.stringify(value)}\n`);
}

export function printLine(text = ""): void {
  write(process.stdout, `${text}\n`);
}

/** A status line on stderr, for commands whose stdout belongs to someone else (`run`'s child command). */
export function note(message: string): void {
  write(process.stderr, `gotunnel: ${message}\n`);
}

/** How often a progress line redraws its spinner and seconds. */
const PROGRESS_FRAME_MS = 100;
/** The progress line on the terminal now, if any: every write clears it first, and its next frame redraws it. */
let progressShown: { width: number } | undefined;

/** Every write goes through here, so output never lands in the middle of a progress line. */
function write(stream: NodeJS.WriteStream, text: string): void {
  clearProgressLine();
  stream.write(text);
}

/** Spaces over the line, no escape codes: nothing for NO_COLOR to object to. */
function clearProgressLine(): void {
  if (!progressShown) return;
  process.stderr.write(`\r${" ".repeat(progressShown.width)}\r`);
  progressShown = undefined;
}

/**
 * A step that can take more than a second (creating the CA, a trust store, starting the daemon, waiting for an
 * upstream), shown on stderr while it runs: a spinner, what is happening and the seconds so far, on one line that
 * the next output replaces. Only on a terminal (`live`): a pipe, a file or a CI log gets nothing from it.
 */
export interface Progress {
  readonly live: boolean;
  /** Shows the line, or relabels it (the seconds restart with a new label). */
  step(label: string): void;
  /** Clears the line; a later step shows it again. */
  done(): void;
}

/** Runs `work` with a progress line that is cleared when it ends, however it ends. */
export async function withProgress<T>(work: (progress: Progress) => Promise<T>): Promise<T> {
  const progress = createProgress();
  try {
    return await work(progress);
  } finally {
    progress.done();
  }
}

export function createProgress(): Progress {
  if (process.stderr.isTTY !== true) return { live: false, step() {}, done() {} };
  let label = "";
  let started = 0;
  let frame = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  const draw = () => {
    const seconds = Math.floor((Date.now() - started) / 1000);
    const columns = process.stderr.columns > 0 ? process.stderr.columns : 80;
    const text = `${label}${seconds > 0 ? ` (${seconds}s)` : ""}`.slice(0, columns - 3);
    // Over the previous frame, padded where it was longer: no clearing first, so no flicker.
    const pad = " ".repeat(Math.max(0, (progressShown?.width ?? 0) - text.length - 2));
    process.stderr.write(`\r${err.cyan(SPINNER[frame++ % SPINNER.length] as string)} ${text}${pad}`);
    progressShown = { width: text.length + 2 + pad.length };
  };
  return {
    live: true,
    step(next) {
      if (next !== label) [label, started] = [next, Date.now()];
      draw();
      timer ??= setInterval(draw, PROGRESS_FRAME_MS);
      // A step left running must not keep gotunnel alive.
      timer.unref();
    },
    done() {
      clearInterval(timer);
      timer = undefined;
      label = "";
      clearProgressLine();
    },
  };
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

/** What `up` prints for its session's requests. */
export interface RequestLog {
  request(record: RequestLogRecord): void;
  /** The requests of a busy second that the daemon counted instead of sending (daemon/control/summary.ts). */
  summary(summary: SessionSummaryLine): void;
}

/**
 * Request log lines, written in batches: one stdout write per event-loop turn instead of one per request keeps the
 * log cheap at tens of thousands of requests per second.
 */
export function createRequestLog(format: LogFormat): RequestLog {
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const text = pending.join("");
    pending = [];
    write(process.stdout, text);
  };
  const queue = (line: string) => {
    pending.push(line);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return {
    request: (record) => queue(format === "json" ? requestJsonLine(record) : requestTextLine(record, out)),
    summary: (summary) => queue(format === "json" ? `${JSON.stringify(summary)}\n` : requestSummaryText(summary, out)),
  };
}

/** One request, unbatched: `gotunnel logs` prints a few lines, then one per request as it follows. */
export function printRequest(format: LogFormat, record: RequestLogRecord): void {
  write(process.stdout, format === "json" ? requestJsonLine(record) : requestTextLine(record, out));
}

/** One webhook delivery's outcome, as `gotunnel logs --webhooks` shows it. */
export function printDelivery(line: DeliveryLine): void {
  write(process.stdout, deliveryTextLine(line, out));
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
    write(process.stderr, `${JSON.stringify(record)}\n`);
  };
}

/**
 * Prints an error the way users should see it. Returns the exit code to use. Errors quote what was typed (a config
 * value, a URL), so credentials in URLs are redacted here, in every form the error takes (core/redact.ts).
 */
export function printError(error: unknown, options: { json: boolean; debug: boolean }): number {
  const line = (stream: NodeJS.WriteStream, text: string) => write(stream, `${redactSecrets(text)}\n`);
  if (isGotunnelError(error)) {
    if (options.json) line(process.stdout, JSON.stringify({ error: errorRecord(error) }));
    else {
      line(process.stderr, `${err.red("error")} ${error.message}`);
      if (error.hint) line(process.stderr, `${err.dim("hint")}  ${error.hint}`);
      if (options.debug && error.cause) line(process.stderr, String((error.cause as Error).stack ?? error.cause));
    }
    return error.exitCode;
  }
  write(process.stderr, `${err.red("gotunnel crashed")} — this is a bug; please report it with the trace below.\n`);
  line(process.stderr, error instanceof Error ? (error.stack ?? error.message) : String(error));
  // A program reading `--json` output still gets its one error line (the trace stays on stderr for the report).
  if (options.json) line(process.stdout, JSON.stringify({ error: crashRecord(error) }));
  return ExitCode.internal;
}

function crashRecord(error: unknown) {
  const message = error instanceof Error ? error.message : String(error);
  return { code: "E_INTERNAL", message: `gotunnel crashed: ${message}`, exitCode: ExitCode.internal };
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

/**
 * Dev server output, each line written whole with one write so lines never mix. `json`: stdout keeps only JSON
 * lines (the ready line, requests, exits), so the servers' output goes to stderr, still prefixed.
 */
export function createDevOutput(names: string[], json: boolean): DevOutput {
  const width = Math.max(0, ...names.map((name) => name.length));
  const colors = new Map(names.map((name, index) => [name, ROUTE_COLORS[index % ROUTE_COLORS.length] as number]));
  const progress = json ? undefined : createProgress();
  let lastWaitingLine = 0;
  return {
    line(name, stream, text) {
      const target = json || stream === "stderr" ? process.stderr : process.stdout;
      const style = target === process.stderr ? err : out;
      write(target, `${style.paint(colors.get(name) ?? 0, name.padEnd(width))} ${style.dim("│")} ${text}\n`);
    },
    waiting(waitingFor, elapsedMs) {
      const what = `waiting for ${waitingFor.join(", ")} to answer`;
      if (progress?.live) progress.step(what);
      else if (elapsedMs - lastWaitingLine >= WAITING_LINE_EVERY_MS) {
        lastWaitingLine = elapsedMs;
        note(`${what} (${Math.floor(elapsedMs / 1000)}s)`);
      }
    },
    doneWaiting: () => progress?.done(),
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
