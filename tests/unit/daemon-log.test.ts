/**
 * The daemon's own log lines (src/cli/output.ts createDaemonLog) in JSON: `{time, level, msg}`, plus the active
 * span's ids (src/telemetry/span-ids.ts) when a line is written inside one.
 */
import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { context, TraceFlags, trace } from "@opentelemetry/api";
import { createDaemonLog } from "../../src/cli/output.ts";
import { AsyncContextManager } from "../../src/telemetry/otlp.ts";
import { activeSpanIds } from "../../src/telemetry/span-ids.ts";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID = "00f067aa0ba902b7";

function captureStderr(write: () => void): Record<string, unknown>[] {
  const lines: string[] = [];
  const spy = spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    write();
  } finally {
    spy.mockRestore();
  }
  return lines
    .join("")
    .trimEnd()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

afterEach(() => context.disable());

describe("daemon log in JSON", () => {
  test("one object per line; no span ids outside a span or without a tracer", () => {
    const log = createDaemonLog("json", activeSpanIds);
    const [line] = captureStderr(() => log("warn", "hosts file is read-only"));
    expect(line).toEqual({ time: expect.stringMatching(/Z$/), level: "warn", msg: "hosts file is read-only" });
  });

  test("credentials in a URL never reach the log: userinfo and secret query values are redacted", () => {
    const log = createDaemonLog("json", activeSpanIds);
    const [line] = captureStderr(() => log("info", "exporting to http://u:s3cret@c:4318/v1/traces?api_key=k&x=1"));
    expect(line?.msg).toBe("exporting to http://REDACTED:REDACTED@c:4318/v1/traces?api_key=REDACTED&x=1");
  });

  test("a line written inside a span carries its trace and span ids", () => {
    context.setGlobalContextManager(new AsyncContextManager());
    const span = trace.wrapSpanContext({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED });
    const log = createDaemonLog("json", activeSpanIds);
    const lines = captureStderr(() => {
      context.with(trace.setSpan(context.active(), span), () => log("info", "inside"));
      log("info", "outside");
    });
    expect(lines[0]).toMatchObject({ level: "info", msg: "inside", traceId: TRACE_ID, spanId: SPAN_ID });
    expect(lines[1]).not.toHaveProperty("traceId");
  });
});
