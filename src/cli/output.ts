/**
 * The only module that prints. Human output goes through consola (stderr for messages) and plain stdout writes for
 * tables and request logs; `--json` output is one JSON document (or one JSON line per event) on stdout.
 */
import { consola } from "consola";
import { type GotunnelError, isGotunnelError } from "../core/errors.ts";
import type { RequestEvent } from "../proxy/server.ts";

export type LogFormat = "text" | "json";

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
export function createRequestLog(format: LogFormat): (event: RequestEvent) => void {
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const text = pending.join("");
    pending = [];
    process.stdout.write(text);
  };
  return (event) => {
    pending.push(format === "json" ? jsonLine(event) : textLine(event));
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

function textLine(event: RequestEvent): string {
  const ms = event.durationMs < 10 ? event.durationMs.toFixed(1) : Math.round(event.durationMs).toString();
  const status = statusColor(event.status)(String(event.status));
  return `  ${event.method.padEnd(6)} ${event.host} ${event.path}  ${status}  ${dim(`${ms}ms`)}\n`;
}

function jsonLine(event: RequestEvent): string {
  const { error, ...rest } = event;
  const record = {
    time: new Date().toISOString(),
    ...rest,
    durationMs: Math.round(event.durationMs * 100) / 100,
    ...(error ? { error: String((error as Error).message ?? error) } : {}),
  };
  return `${JSON.stringify(record)}\n`;
}

/** Prints an error the way users should see it. Returns the exit code to use. */
export function printError(error: unknown, options: { json: boolean; debug: boolean }): number {
  if (isGotunnelError(error)) {
    if (options.json) process.stdout.write(`${JSON.stringify({ error: errorRecord(error) }, null, 2)}\n`);
    else {
      process.stderr.write(`${red("error")} ${error.message}\n`);
      if (error.hint) process.stderr.write(`${dim("hint")}  ${error.hint}\n`);
      if (options.debug && error.cause)
        process.stderr.write(`${String((error.cause as Error).stack ?? error.cause)}\n`);
    }
    return error.exitCode;
  }
  process.stderr.write(`${red("gotunnel crashed")} — this is a bug; please report it with the trace below.\n`);
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
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
