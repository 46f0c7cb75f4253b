/**
 * The daemon's own log lines (src/cli/output.ts createDaemonLog) in JSON: `{time, level, msg}`, plus the active
 * span's ids (src/telemetry/span-ids.ts) when a line is written inside one.
 */
import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { type Context, type ContextManager, context, ROOT_CONTEXT, TraceFlags, trace } from "@opentelemetry/api";
import { createDaemonLog } from "../../src/cli/output.ts";
import { activeSpanIds } from "../../src/telemetry/span-ids.ts";

/** The least context manager that makes `context.with` work synchronously, as a registered tracer's would. */
class StackContextManager implements ContextManager {
  private stack: Context[] = [];
  active(): Context {
    return this.stack.at(-1) ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    this.stack.push(ctx);
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.stack.pop();
    }
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.stack = [];
    return this;
  }
}

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

  test("a line written inside a span carries its trace and span ids", () => {
    context.setGlobalContextManager(new StackContextManager());
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
