/** The daemon's request log (src/daemon/request-log.ts): bounded, oldest first, filtered by route, followed live. */
import { describe, expect, test } from "bun:test";
import type { LogLine } from "../../src/daemon/control/protocol.ts";
import { logLine, REQUEST_LOG_CAPACITY, RequestLog } from "../../src/daemon/request-log.ts";
import type { RequestEvent } from "../../src/proxy/server.ts";

/** `route` null: a request no route matched (the 404 page). */
function event(path: string, route: string | null = "a.local", extra: Partial<RequestEvent> = {}): RequestEvent {
  return {
    method: "GET",
    host: route ?? "nowhere.test",
    path,
    status: 200,
    durationMs: 1.23456,
    route: route ?? undefined,
    error: undefined,
    ...extra,
  };
}

const paths = (lines: LogLine[]) => lines.map((line) => line.path);

describe("logLine", () => {
  test("redacts the values of secret-looking query parameters in the path; other parameters stay", () => {
    const line = logLine(event("/cb?code=1&access_token=abc&Password=p%40ss&page=2"), 0);
    expect(line.path).toBe("/cb?code=1&access_token=REDACTED&Password=REDACTED&page=2");
  });
});

describe("RequestLog", () => {
  test("keeps the newest `capacity` events, oldest first", () => {
    const log = new RequestLog(3);
    for (const path of ["/1", "/2"]) log.push(event(path));
    expect(paths(log.lines())).toEqual(["/1", "/2"]);
    for (const path of ["/3", "/4", "/5"]) log.push(event(path));
    expect(paths(log.lines())).toEqual(["/3", "/4", "/5"]);
  });

  test("stays bounded across many wraps", () => {
    const log = new RequestLog();
    for (let i = 0; i < REQUEST_LOG_CAPACITY * 3 + 7; i++) log.push(event(`/${i}`));
    const lines = log.lines();
    expect(lines).toHaveLength(REQUEST_LOG_CAPACITY);
    expect(lines[0]?.path).toBe(`/${REQUEST_LOG_CAPACITY * 2 + 7}`);
    expect(lines.at(-1)?.path).toBe(`/${REQUEST_LOG_CAPACITY * 3 + 6}`);
  });

  test("filters by route and limits to the newest N of that route", () => {
    const log = new RequestLog(10);
    log.push(event("/a1"));
    log.push(event("/b1", "b.local"));
    log.push(event("/a2"));
    log.push(event("/none", null));
    log.push(event("/a3"));
    expect(paths(log.lines("a.local"))).toEqual(["/a1", "/a2", "/a3"]);
    expect(paths(log.lines("a.local", 2))).toEqual(["/a2", "/a3"]);
    expect(paths(log.lines("b.local"))).toEqual(["/b1"]);
    expect(paths(log.lines(undefined, 2))).toEqual(["/none", "/a3"]);
    expect([...log.routes()].sort()).toEqual(["a.local", "b.local"]);
  });

  test("a line has an ISO time, a rounded duration, the error's message and the span ids", () => {
    const line = logLine(
      event("/x", "a.local", {
        status: 502,
        error: new Error("connection refused"),
        traceparent: `00-${"a".repeat(32)}-${"b".repeat(16)}-01`,
      }),
      Date.UTC(2026, 0, 2, 3, 4, 5, 6),
    );
    expect(line).toEqual({
      time: "2026-01-02T03:04:05.006Z",
      method: "GET",
      host: "a.local",
      path: "/x",
      status: 502,
      durationMs: 1.23,
      route: "a.local",
      error: "connection refused",
      traceId: "a".repeat(32),
      spanId: "b".repeat(16),
    });
    expect(Object.keys(logLine(event("/y", null), 0))).not.toContain("route");
  });

  test("followers get new events of their route until they stop; several at once", () => {
    const log = new RequestLog(2);
    log.push(event("/before"));
    const all: string[] = [];
    const onlyB: string[] = [];
    const stopAll = log.follow(undefined, (line) => all.push(line.path));
    log.follow("b.local", (line) => onlyB.push(line.path));
    log.push(event("/a"));
    log.push(event("/b", "b.local"));
    stopAll();
    log.push(event("/b2", "b.local"));
    expect(all).toEqual(["/a", "/b"]);
    expect(onlyB).toEqual(["/b", "/b2"]);
  });
});
