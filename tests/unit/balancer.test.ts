/** proxy/balancer.ts and balanced-upstream.ts with a fake clock and a fake upstream: no sockets. */
import { describe, expect, test } from "bun:test";
import { balancedUpstream, mayRetry } from "../../src/proxy/balanced-upstream.ts";
import { type BackendTarget, Balancer, PASSIVE_DOWN_BASE_MS, PASSIVE_DOWN_MAX_MS } from "../../src/proxy/balancer.ts";
import type { OutgoingRequest } from "../../src/proxy/forward.ts";
import type { ProxyRoute } from "../../src/proxy/router.ts";
import { UpstreamError } from "../../src/proxy/upstream/errors.ts";

const target = (port: number): BackendTarget => ({
  protocol: "http:",
  hostname: "127.0.0.1",
  port,
  origin: `http://127.0.0.1:${port}`,
});
const TARGETS = [target(1001), target(1002), target(1003)];

function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const ports = (balancer: Balancer, count: number) => Array.from({ length: count }, () => balancer.pick()?.target.port);

describe("Balancer policies", () => {
  test("round_robin takes turns and skips a backend that is down", () => {
    const time = clock();
    const balancer = new Balancer(TARGETS, "round_robin", time.now);
    expect(ports(balancer, 4)).toEqual([1001, 1002, 1003, 1001]);
    balancer.failed(balancer.backends[2]!, "refused");
    expect(ports(balancer, 4)).toEqual([1002, 1001, 1002, 1001]);
  });

  test("first sends everything to the first healthy backend (failover) and goes back when it recovers", () => {
    const time = clock();
    const balancer = new Balancer(TARGETS, "first", time.now);
    expect(ports(balancer, 3)).toEqual([1001, 1001, 1001]);
    balancer.failed(balancer.backends[0]!, "refused");
    expect(ports(balancer, 2)).toEqual([1002, 1002]);
    time.advance(PASSIVE_DOWN_BASE_MS);
    expect(balancer.pick()?.target.port).toBe(1001);
  });

  test("least_conn prefers the backend with the fewest in flight, ties in turn", () => {
    const balancer = new Balancer(TARGETS, "least_conn");
    balancer.backends[0]!.inFlight = 5;
    balancer.backends[1]!.inFlight = 1;
    balancer.backends[2]!.inFlight = 1;
    expect(ports(balancer, 2)).toEqual([1002, 1003]);
    balancer.backends[2]!.inFlight = 0;
    expect(ports(balancer, 2)).toEqual([1003, 1003]);
  });

  test("a request skips the backends it tried; when every other one is down, a down one is still tried", () => {
    const balancer = new Balancer(TARGETS, "round_robin");
    for (const backend of balancer.backends.slice(1)) balancer.failed(backend, "refused");
    const first = balancer.pick(0);
    expect(first?.target.port).toBe(1001);
    const second = balancer.pick(first!.bit);
    expect(second?.target.port).toBe(1002);
    expect(balancer.hasUntried(first!.bit | second!.bit)).toBe(true);
    const all = balancer.backends.reduce((mask, backend) => mask | backend.bit, 0);
    expect(balancer.hasUntried(all)).toBe(false);
    expect(balancer.pick(all)).toBeUndefined();
  });
});

describe("passive and active health", () => {
  test("each failure in a row doubles the time down, up to the cap; a success resets it", () => {
    const time = clock();
    const balancer = new Balancer(TARGETS, "round_robin", time.now);
    const backend = balancer.backends[0]!;
    const penalties: number[] = [];
    for (let i = 0; i < 5; i++) {
      balancer.failed(backend, "refused");
      penalties.push(backend.downUntilMs - time.now());
    }
    expect(penalties).toEqual([10_000, 20_000, 40_000, PASSIVE_DOWN_MAX_MS, PASSIVE_DOWN_MAX_MS]);
    expect(balancer.states()[0]).toMatchObject({ state: "down", failures: 5, retryInMs: 80_000, reason: "refused" });
    balancer.succeeded(backend);
    expect(balancer.states()[0]).toMatchObject({ state: "up", failures: 0, failuresTotal: 5 });
  });

  test("a failing health check holds a backend down until a check passes", () => {
    const time = clock();
    const balancer = new Balancer(TARGETS.slice(0, 2), "first", time.now);
    balancer.healthChecked(balancer.backends[0]!, "/healthz answered 503");
    time.advance(PASSIVE_DOWN_MAX_MS * 2);
    expect(balancer.pick()?.target.port).toBe(1002);
    expect(balancer.states()[0]).toEqual({
      origin: "http://127.0.0.1:1001",
      state: "down",
      inFlight: 0,
      requests: 0,
      failures: 0,
      failuresTotal: 1,
      reason: "/healthz answered 503",
    });
    balancer.healthChecked(balancer.backends[0]!, undefined);
    expect(balancer.pick()?.target.port).toBe(1001);
  });
});

const ROUTE = { name: "api.local", target: TARGETS[0] } as ProxyRoute;

function request(method: string, body: ReadableStream<Uint8Array> | null = null): OutgoingRequest {
  return { method, path: "/", headers: [], body, contentLength: undefined, signal: new AbortController().signal };
}

/** An upstream where port 1001 refuses, 1002 answers 502 and 1003 answers 200; records each port tried. */
function fakeUpstream() {
  const tried: number[] = [];
  const upstream = async (_route: ProxyRoute, outgoing: OutgoingRequest) => {
    const port = outgoing.target?.port ?? 0;
    tried.push(port);
    if (port === 1001) throw new UpstreamError("refused", "connection to upstream 127.0.0.1:1001 refused");
    const response = new Response(port === 1002 ? "bad gateway" : "ok", { status: port === 1002 ? 502 : 200 });
    outgoing.onResponseEnd?.();
    return response;
  };
  return { tried, upstream };
}

describe("balancedUpstream", () => {
  test("a GET is retried past a refused backend and a 502, and both are marked down", async () => {
    const balancer = new Balancer(TARGETS, "first");
    const { tried, upstream } = fakeUpstream();
    const response = await balancedUpstream(balancer, upstream)(ROUTE, request("GET"));
    expect(response.status).toBe(200);
    expect(tried).toEqual([1001, 1002, 1003]);
    expect(balancer.states().map((state) => state.state)).toEqual(["down", "down", "up"]);
    expect(balancer.states().map((state) => state.inFlight)).toEqual([0, 0, 0]);
  });

  test("a POST is never retried: the refused backend's error reaches the client", async () => {
    const balancer = new Balancer(TARGETS, "first");
    const { tried, upstream } = fakeUpstream();
    await expect(balancedUpstream(balancer, upstream)(ROUTE, request("POST"))).rejects.toThrow("refused");
    expect(tried).toEqual([1001]);
  });

  test("a PUT with a body is not retried; one without is; the last 502 is answered when all fail", async () => {
    expect(mayRetry(request("PUT", new ReadableStream()))).toBe(false);
    expect(mayRetry(request("PUT"))).toBe(true);
    expect(mayRetry(request("PATCH"))).toBe(false);
    const balancer = new Balancer([TARGETS[1]!, target(1002)], "round_robin");
    const { tried, upstream } = fakeUpstream();
    const response = await balancedUpstream(balancer, upstream)(ROUTE, request("DELETE"));
    expect(response.status).toBe(502);
    expect(tried).toEqual([1002, 1002]);
  });
});
