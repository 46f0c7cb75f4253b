/**
 * Sentry next to our OpenTelemetry tracer, in a child process (the SDK installs process-wide crash handlers, which
 * must not land in the test runner): starting Sentry after the tracer leaves our global tracer provider in place, and
 * an error reported inside a traced operation arrives tagged with that span's trace id. Both exporters point at a
 * local receiver.
 */
import { afterAll, expect, test } from "bun:test";
import { REPO_ROOT } from "../helpers/e2e.ts";

const received: { path: string; body: string }[] = [];
const receiver = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    received.push({ path: new URL(req.url).pathname, body: await req.text() });
    return Response.json({});
  },
});
afterAll(() => receiver.stop(true));

const CHILD = `
import { trace } from "@opentelemetry/api";
import { createTracing } from "./src/telemetry/otlp.ts";
import { startSentry } from "./src/telemetry/sentry.ts";
import { traced } from "./src/telemetry/tracing.ts";
const base = "http://127.0.0.1:${receiver.port}";
const tracing = createTracing(
  { tracesUrl: base + "/v1/traces", headers: {}, sampleRate: 1 },
  { environment: "development", log: () => undefined, env: {} },
);
const ours = trace.getTracerProvider().getDelegate();
const reporter = await startSentry({ dsn: "http://key@127.0.0.1:${receiver.port}/1", sampleRate: 1, tracesSampleRate: 1 }, "development", {});
const kept = trace.getTracerProvider().getDelegate() === ours;
let traceId;
await traced("hosts update", {}, async () => {
  traceId = trace.getActiveSpan()?.spanContext().traceId;
  reporter.report(new Error("boom"), { component: "hosts" });
});
await reporter.flush(2000);
await tracing.shutdown();
console.log(JSON.stringify({ kept, traceId }));
`;

test("Sentry keeps our tracer provider and tags errors with the active OpenTelemetry trace id", async () => {
  const child = Bun.spawn([process.execPath, "-e", CHILD], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  expect(stderr).toBe("");
  expect(exitCode).toBe(0);
  const { kept, traceId } = JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as { kept: boolean; traceId: string };
  expect(kept).toBe(true);
  expect(traceId).toMatch(/^[0-9a-f]{32}$/);
  const envelope = received.find((item) => item.path === "/api/1/envelope/" && item.body.includes('"type":"event"'));
  const event = JSON.parse(envelope?.body.trim().split("\n")[2] ?? "{}") as { tags?: Record<string, string> };
  // The tag, not Sentry's own trace context: without its OpenTelemetry setup the SDK's trace ids are its own.
  expect(event.tags).toMatchObject({ component: "hosts", trace_id: traceId });
  expect(received.some((item) => item.path === "/v1/traces")).toBe(true);
});
