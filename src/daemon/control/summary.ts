/**
 * Request lines for a person to read. An `up` session in text mode gets every request while its routes are quiet;
 * in a second with more than SESSION_LINES_PER_SECOND requests, the rest of that second's successes arrive as one
 * summary line (per route and status) when the second ends. Failures (status 400 and up, or no answer) still arrive
 * one by one, up to SESSION_FAILURES_PER_SECOND more. Nobody reads thousands of lines a second, and writing,
 * parsing and printing each one costs a busy route's requests latency on a shared core: the bench's c=1 p99 was
 * 315–447 µs with `up` printing every request against 218–259 µs with `up` stopped (issue 18). `up --json` and
 * `gotunnel logs` still get every request.
 */
import type { RequestEventLine, SessionSummaryLine } from "./protocol.ts";

/** Requests shown one by one in a second before the rest of its successes are counted instead. */
export const SESSION_LINES_PER_SECOND = 50;
/** Failures shown one by one past that, in the same second: an error storm stays bounded too. */
export const SESSION_FAILURES_PER_SECOND = 50;
/** The window a summary covers: it opens with the first request after a quiet one. */
export const SUMMARY_WINDOW_MS = 1_000;

export class LineSummary {
  private shown = 0;
  private failuresShown = 0;
  /** Route → status → requests counted instead of sent, in the open window. */
  private counted = new Map<string, Map<number, number>>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly send: (line: RequestEventLine | SessionSummaryLine) => void) {}

  push(line: RequestEventLine): void {
    this.timer ??= setTimeout(() => this.closeWindow(), SUMMARY_WINDOW_MS);
    if (this.shown < SESSION_LINES_PER_SECOND) {
      this.shown++;
      this.send(line);
      return;
    }
    const failed = line.status >= 400 || line.error !== undefined;
    if (failed && this.failuresShown < SESSION_FAILURES_PER_SECOND) {
      this.failuresShown++;
      this.send(line);
      return;
    }
    const route = line.route ?? line.host;
    let statuses = this.counted.get(route);
    if (!statuses) {
      statuses = new Map();
      this.counted.set(route, statuses);
    }
    statuses.set(line.status, (statuses.get(line.status) ?? 0) + 1);
  }

  /** Sends the window's summary, if it counted anything, and starts the next window with the next request. */
  closeWindow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.shown = 0;
    this.failuresShown = 0;
    if (this.counted.size === 0) return;
    const routes = [...this.counted].map(([route, statuses]) => {
      let count = 0;
      for (const n of statuses.values()) count += n;
      return { route, count, statuses: Object.fromEntries(statuses) };
    });
    this.counted = new Map();
    this.send({ event: "summary", windowMs: SUMMARY_WINDOW_MS, routes });
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
