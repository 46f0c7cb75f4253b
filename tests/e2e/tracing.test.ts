/**
 * Traces through the compiled binary, against a local OTLP/HTTP receiver (a Bun.serve that records POST /v1/traces):
 * a proxied request with a client `traceparent` becomes a SERVER span of that trace whose parent is the client's
 * span, the upstream receives a `traceparent` of the same trace with the server span as parent, and route changes
 * have their own spans; binary protobuf by default, JSON when OTEL_EXPORTER_OTLP_PROTOCOL says so; the cap on new
 * traces a second holds, and a caller's sampled trace is continued past it. `trust` and `untrust` trace each store
 * they change under a span of the command. Without an endpoint, or with
 * GOTUNNEL_TELEMETRY=0, nothing is sent and the client's `traceparent` reaches the upstream unchanged.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  curl,
  E2EScope,
  headerValues,
  requireBinary,
  run,
  runGotunnel,
  startEchoRoute,
  stopDaemonOf,
  until,
} from "../helpers/e2e.ts";
import { otlpBody } from "../helpers/otlp-decode.ts";
import { requireTools } from "../helpers/tools.ts";
import type { startEchoUpstream } from "../helpers/upstreams.ts";

/** The trust test changes a real NSS database with the real certutil. */
const certutil = requireTools("certutil");

const scope = new E2EScope();
afterAll(() => scope.dispose());

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";
const CLIENT_TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: { stringValue?: string; intValue?: string } }[];
  status: { code: number };
}

interface OtlpBody {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[];
  }[];
}

/** A local OTLP/HTTP collector stand-in: keeps every body POSTed to /v1/traces. */
function startReceiver() {
  const bodies: OtlpBody[] = [];
  const contentTypes: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      if (req.method !== "POST" || new URL(req.url).pathname !== "/v1/traces")
        return new Response(null, { status: 404 });
      contentTypes.push(`${req.headers.get("content-type")}; ${req.headers.get("content-encoding")}`);
      // Protobuf (the default) or JSON, read into one shape by the test's own decoder (helpers/otlp-decode.ts).
      bodies.push(otlpBody(req, new Uint8Array(await req.arrayBuffer())) as OtlpBody);
      return Response.json({});
    },
  });
  scope.defer(() => server.stop(true));
  const spans = () => bodies.flatMap((body) => body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
  return { endpoint: `http://127.0.0.1:${server.port}`, bodies, contentTypes, spans };
}

function attribute(span: OtlpSpan, key: string): string | undefined {
  const value = span.attributes.find((item) => item.key === key)?.value;
  return value?.stringValue ?? value?.intValue;
}

function upstreamTraceparents(upstream: ReturnType<typeof startEchoUpstream>): string[] {
  return upstream.seen.flatMap((seen) => seen.headers.filter(([key]) => key === "traceparent").map(([, v]) => v));
}

describe("OTLP traces", () => {
  test("a proxied request continues the client's trace, and the upstream gets the server span as parent", async () => {
    requireBinary();
    const receiver = startReceiver();
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: "100" };
    const { home, upstream, url, ca } = await startEchoRoute(scope, "traced", env);

    const response = await curl(`${url}/items?secret=1`, {
      ca,
      args: ["-H", `traceparent: ${CLIENT_TRACEPARENT}`, "-H", "tracestate: vendor=abc"],
    });
    expect(response.status).toBe(200);
    const server = await until(() => receiver.spans().find((span) => span.kind === 2));
    expect(server).toBeDefined();
    if (!server) return;
    expect(server.traceId).toBe(TRACE_ID);
    expect(server.parentSpanId).toBe(PARENT_ID);
    expect(server.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(server.name).toBe("GET traced.local");
    expect(attribute(server, "http.request.method")).toBe("GET");
    expect(attribute(server, "http.response.status_code")).toBe("200");
    expect(attribute(server, "url.path")).toBe("/items");
    expect(attribute(server, "url.scheme")).toBe("https");
    expect(attribute(server, "server.address")).toBe("traced.local");
    expect(BigInt(server.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(server.startTimeUnixNano));
    expect(receiver.contentTypes[0]).toBe("application/x-protobuf; null");

    // Same trace, our span as the parent, sampled; tracestate untouched.
    expect(upstreamTraceparents(upstream)).toEqual([`00-${TRACE_ID}-${server.spanId}-01`]);
    expect(upstream.seen[0]?.headers.find(([key]) => key === "tracestate")?.[1]).toBe("vendor=abc");

    const resource = receiver.bodies[0]?.resourceSpans[0]?.resource.attributes ?? [];
    const resourceOf = (key: string) => resource.find((item) => item.key === key)?.value.stringValue;
    expect(resourceOf("service.name")).toBe("gotunnel");
    expect(resourceOf("deployment.environment.name")).toBe("development");
    expect(resourceOf("service.version")).toBeString();

    // The route add that `start` made, with its certificate and hosts update as children.
    const add = receiver.spans().find((span) => span.name === "route add");
    expect(add).toBeDefined();
    const children = receiver
      .spans()
      .filter((span) => span.parentSpanId === add?.spanId && span.traceId === add?.traceId);
    expect(children.map((span) => span.name)).toContain("hosts update");
    expect(headerValues(response, "traceparent")).toEqual([]);

    // A request without traceparent starts a new trace (development samples everything).
    await curl(`${url}/second`, { ca });
    const root = await until(() => receiver.spans().find((span) => attribute(span, "url.path") === "/second"));
    expect(root?.parentSpanId).toBeUndefined();
    expect(upstreamTraceparents(upstream)[1]).toBe(`00-${root?.traceId}-${root?.spanId}-01`);

    // The shutdown's own hosts update (removing our names) is queued last and still sent on the daemon's way out.
    const hostsUpdates = () => receiver.spans().filter((span) => span.name === "hosts update").length;
    const before = hostsUpdates();
    await stopDaemonOf(home);
    expect(hostsUpdates()).toBe(before + 1);
  });

  test("OTEL_EXPORTER_OTLP_PROTOCOL=http/json sends the same spans as JSON; an unsampled caller is not recorded", async () => {
    requireBinary();
    const receiver = startReceiver();
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "100",
    };
    const { home, upstream, url, ca } = await startEchoRoute(scope, "jsonproto", env);
    const unsampled = `00-${TRACE_ID}-${PARENT_ID}-00`;
    await curl(`${url}/skipped`, { ca, args: ["-H", `traceparent: ${unsampled}`] });
    await curl(`${url}/json`, { ca, args: ["-H", `traceparent: ${CLIENT_TRACEPARENT}`] });
    const server = await until(() => receiver.spans().find((span) => attribute(span, "url.path") === "/json"));
    expect(server?.traceId).toBe(TRACE_ID);
    expect(server?.parentSpanId).toBe(PARENT_ID);
    expect(receiver.contentTypes[0]).toBe("application/json; null");
    // The caller said "not sampled": no span, and its header reaches the upstream as it was.
    expect(upstreamTraceparents(upstream)).toEqual([unsampled, `00-${TRACE_ID}-${server?.spanId}-01`]);
    await stopDaemonOf(home);
    expect(receiver.spans().filter((span) => attribute(span, "url.path") === "/skipped")).toEqual([]);
  });

  test("GOTUNNEL_TRACES_PER_SECOND caps new traces; a caller's sampled trace is continued past the cap", async () => {
    requireBinary();
    const receiver = startReceiver();
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: "100",
      GOTUNNEL_TRACES_PER_SECOND: "1",
    };
    const { home, upstream, url, ca } = await startEchoRoute(scope, "capped", env);
    // Eight requests back to back on one connection, then (curl --next) one that carries a sampled traceparent: the
    // second's single token goes to the first request; the caller's trace goes on regardless.
    const burst = Array.from({ length: 8 }, (_, i) => `${url}/burst/${i}`);
    const { hostname, port } = new URL(url);
    const again = ["--resolve", `${hostname}:${port}:127.0.0.1`, "--cacert", ca];
    const caller = ["--next", ...again, "-H", `traceparent: ${CLIENT_TRACEPARENT}`];
    const result = await curl(`${url}/caller`, { ca, args: [...burst, ...caller] });
    expect(result.exitCode).toBe(0);
    expect(upstream.seen).toHaveLength(9);

    const server = await until(() => receiver.spans().find((span) => attribute(span, "url.path") === "/caller"));
    expect(server?.traceId).toBe(TRACE_ID);
    expect(server?.parentSpanId).toBe(PARENT_ID);
    await stopDaemonOf(home);
    const roots = receiver.spans().filter((span) => attribute(span, "url.path")?.startsWith("/burst/"));
    expect(roots.map((span) => attribute(span, "url.path"))).toEqual(["/burst/0"]);
    // Untraced requests reach the upstream without a traceparent, as when tracing is off.
    expect(upstreamTraceparents(upstream)).toEqual([
      `00-${roots[0]?.traceId}-${roots[0]?.spanId}-01`,
      `00-${TRACE_ID}-${server?.spanId}-01`,
    ]);
    const log = readFileSync(join(home, "state", "daemon.log"), "utf8");
    expect(log).toContain("at most 1 new traces a second");
    expect(log).toContain("tracing: more than 1 new traces a second; tracing 1 a second");
  });

  test.skipIf(certutil.skip)(
    certutil.title(
      "`gotunnel trust` and `untrust` send a span per store under the command's own span; --json output stays clean",
    ),
    async () => {
      requireBinary();
      const receiver = startReceiver();
      // A real NSS database under a temp HOME, changed by the real certutil: no store of this machine is touched.
      const home = scope.dir("trust");
      const nssdb = join(home, ".pki", "nssdb");
      mkdirSync(nssdb, { recursive: true });
      expect((await run(["certutil", "-N", "-d", `sql:${nssdb}`, "--empty-password"])).exitCode).toBe(0);
      const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint };
      const command = (args: string[]) => runGotunnel([...args, "--store", "nss", "--json"], { cwd: home, home, env });

      const trusted = await command(["trust"]);
      expect(trusted.exitCode).toBe(0);
      expect(JSON.parse(trusted.stdout).stores.map((store: { status: string }) => store.status)).toEqual(["changed"]);
      // Sent before the command exited: no waiting here.
      const root = receiver.spans().find((span) => span.name === "gotunnel trust");
      const store = receiver.spans().find((span) => span.name === "ca trust");
      expect(root).toBeDefined();
      expect(store).toBeDefined();
      expect(root?.parentSpanId).toBeUndefined();
      expect(store?.traceId).toBe(root?.traceId as string);
      expect(store?.parentSpanId).toBe(root?.spanId as string);
      expect(store ? attribute(store, "gotunnel.trust.store") : undefined).toBe("nss");
      expect(store ? attribute(store, "gotunnel.trust.status") : undefined).toBe("changed");
      // The store's label, never its path: the path would name the user's home.
      expect(JSON.stringify(receiver.bodies)).not.toContain(home);

      expect((await command(["trust"])).exitCode).toBe(0);
      expect((await command(["untrust"])).exitCode).toBe(0);
      const statuses = receiver
        .spans()
        .filter((span) => span.name.startsWith("ca "))
        .map((span) => `${span.name}: ${attribute(span, "gotunnel.trust.status")}`);
      expect(statuses).toEqual(["ca trust: changed", "ca trust: already", "ca untrust: changed"]);
    },
  );

  test("no endpoint: nothing is exported and the client's traceparent reaches the upstream unchanged", async () => {
    requireBinary();
    const receiver = startReceiver();
    const { home, upstream, url, ca } = await startEchoRoute(scope, "untraced", {});
    const unsampled = `00-${TRACE_ID}-${PARENT_ID}-00`;
    await curl(url, { ca, args: ["-H", `traceparent: ${CLIENT_TRACEPARENT}`] });
    await curl(url, { ca, args: ["-H", `traceparent: ${unsampled}`] });
    expect(upstreamTraceparents(upstream)).toEqual([CLIENT_TRACEPARENT, unsampled]);
    await stopDaemonOf(home);
    expect(receiver.bodies).toEqual([]);
  });

  test("GOTUNNEL_TELEMETRY=0 wins over a configured endpoint", async () => {
    requireBinary();
    const receiver = startReceiver();
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: "50",
      GOTUNNEL_TELEMETRY: "0",
    };
    const { home, upstream, url, ca } = await startEchoRoute(scope, "optout", env);
    await curl(url, { ca, args: ["-H", `traceparent: ${CLIENT_TRACEPARENT}`] });
    await Bun.sleep(300);
    await stopDaemonOf(home);
    expect(receiver.bodies).toEqual([]);
    expect(upstreamTraceparents(upstream)).toEqual([CLIENT_TRACEPARENT]);
  });
});
