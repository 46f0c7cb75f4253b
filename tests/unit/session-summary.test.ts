/**
 * An `up` session in text mode (daemon/control/summary.ts): every request while a route is quiet; in a busy second,
 * the first SESSION_LINES_PER_SECOND, failures up to SESSION_FAILURES_PER_SECOND more, and one summary line per route
 * for the rest when the second ends.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { RequestEventLine, SessionSummaryLine } from "../../src/daemon/control/protocol.ts";
import {
  LineSummary,
  SESSION_FAILURES_PER_SECOND,
  SESSION_LINES_PER_SECOND,
  SUMMARY_WINDOW_MS,
} from "../../src/daemon/control/summary.ts";

type Sent = RequestEventLine | SessionSummaryLine;

const open: LineSummary[] = [];
afterEach(() => {
  for (const summary of open.splice(0)) summary.close();
});

function summarizer() {
  const sent: Sent[] = [];
  const summary = new LineSummary((line) => sent.push(line));
  open.push(summary);
  return { summary, sent };
}

function request(status: number, route = "app.local", path = "/"): RequestEventLine {
  return { event: "request", method: "GET", host: route, path, status, durationMs: 1, route };
}

const requests = (sent: Sent[]) => sent.filter((line): line is RequestEventLine => line.event === "request");
const summaries = (sent: Sent[]) => sent.filter((line): line is SessionSummaryLine => line.event === "summary");

describe("a session's request lines in text mode", () => {
  test("a quiet second sends every request and no summary", () => {
    const { summary, sent } = summarizer();
    for (let i = 0; i < SESSION_LINES_PER_SECOND; i++) summary.push(request(200, "app.local", `/${i}`));
    summary.closeWindow();
    expect(requests(sent).map((line) => line.path)).toEqual(
      Array.from({ length: SESSION_LINES_PER_SECOND }, (_, i) => `/${i}`),
    );
    expect(summaries(sent)).toEqual([]);
  });

  test("a busy second sends its first lines, then counts the rest per route and status", () => {
    const { summary, sent } = summarizer();
    for (let i = 0; i < SESSION_LINES_PER_SECOND; i++) summary.push(request(200));
    for (let i = 0; i < 120; i++) summary.push(request(200));
    for (let i = 0; i < 7; i++) summary.push(request(304));
    for (let i = 0; i < 3; i++) summary.push(request(200, "api.app.local"));
    expect(requests(sent)).toHaveLength(SESSION_LINES_PER_SECOND);
    summary.closeWindow();
    expect(summaries(sent)).toEqual([
      {
        event: "summary",
        windowMs: SUMMARY_WINDOW_MS,
        routes: [
          { route: "app.local", count: 127, statuses: { "200": 120, "304": 7 } },
          { route: "api.app.local", count: 3, statuses: { "200": 3 } },
        ],
      },
    ]);
  });

  test("failures past the first lines still arrive one by one, up to their own bound, then are counted", () => {
    const { summary, sent } = summarizer();
    for (let i = 0; i < SESSION_LINES_PER_SECOND; i++) summary.push(request(200));
    summary.push(request(200));
    summary.push(request(404, "app.local", "/missing.js"));
    summary.push({ ...request(502, "app.local", "/down"), error: "connection refused" });
    for (let i = 0; i < SESSION_FAILURES_PER_SECOND; i++) summary.push(request(500));
    const shown = requests(sent).slice(SESSION_LINES_PER_SECOND);
    expect(shown.map((line) => line.path).slice(0, 2)).toEqual(["/missing.js", "/down"]);
    expect(shown).toHaveLength(SESSION_FAILURES_PER_SECOND);
    summary.closeWindow();
    // One success, and the two 500s past the failure bound.
    expect(summaries(sent)[0]?.routes).toEqual([{ route: "app.local", count: 3, statuses: { "200": 1, "500": 2 } }]);
  });

  test("the next second starts afresh: its first lines are sent again", () => {
    const { summary, sent } = summarizer();
    for (let i = 0; i < SESSION_LINES_PER_SECOND + 5; i++) summary.push(request(200));
    summary.closeWindow();
    summary.push(request(200, "app.local", "/next-second"));
    expect(sent.at(-1)).toMatchObject({ event: "request", path: "/next-second" });
    summary.closeWindow();
    expect(summaries(sent)).toHaveLength(1);
  });

  test("the summary goes out by itself when the second ends, without another request", async () => {
    const { summary, sent } = summarizer();
    for (let i = 0; i < SESSION_LINES_PER_SECOND + 2; i++) summary.push(request(200));
    expect(summaries(sent)).toEqual([]);
    await Bun.sleep(SUMMARY_WINDOW_MS + 200);
    expect(summaries(sent)[0]?.routes).toEqual([{ route: "app.local", count: 2, statuses: { "200": 2 } }]);
  });
});
