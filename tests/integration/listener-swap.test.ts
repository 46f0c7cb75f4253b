/**
 * The listener swap (DESIGN.md: `server.reload` keeps old certificates, so `update()` binds a second Bun.serve with
 * reusePort and stops the old one). Under wrk load over HTTPS, a dozen swaps with changed routes and new
 * certificates must not fail a single request; afterwards a new route's certificate is served and a removed route is
 * a 404; a slow request in flight across a swap still completes. Adding and retiring an address (what LAN sharing
 * does) serves at once, and an address that cannot be bound changes nothing, not even the routes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { fetchUpstream } from "../../src/proxy/fetch-upstream.ts";
import type { Upstream } from "../../src/proxy/forward.ts";
import type { ProxyRoute } from "../../src/proxy/router.ts";
import { ProxyServer, type TlsEntry } from "../../src/proxy/server.ts";
import {
  createTestCA,
  curl,
  entryCert,
  route,
  run,
  servedCert,
  startEchoUpstream,
  statusAndBody,
  type TestCA,
} from "../helpers/proxy.ts";
import { requireTools } from "../helpers/tools.ts";

const SWAPS = 12;
const WRK_ARGS = ["-t1", "-c50", "-d6s"];
/** Bounds the wait for wrk's first request (20 × 100 ms). */
const MAX_POLLS = 20;

let testCA: TestCA;
let echo: Server<undefined>;
let proxy: ProxyServer;
let port: number;
let requests = 0;
/** Resolved when the upstream seam receives a `/slow` request, so the swap happens while it is in flight. */
let slowArrived: PromiseWithResolvers<void> = Promise.withResolvers();

const countingUpstream: Upstream = (r, request) => {
  requests++;
  if (request.path.startsWith("/slow")) slowArrived.resolve();
  return fetchUpstream(r, request);
};

function generation(n: number): ProxyRoute[] {
  return [route("stable.local", echo.port!), route(`gen-${n}.local`, echo.port!)];
}

async function swapTo(n: number): Promise<{ routes: ProxyRoute[]; tls: TlsEntry[] }> {
  const routes = generation(n);
  const tls = await testCA.entriesFor(routes);
  await proxy.update(routes, tls);
  return { routes, tls };
}

beforeAll(async () => {
  testCA = await createTestCA();
  echo = startEchoUpstream();
  const routes = generation(0);
  proxy = await ProxyServer.listen({
    host: "127.0.0.1",
    httpsPort: 0,
    httpPort: null,
    routes,
    tls: await testCA.entriesFor(routes),
    upstream: countingUpstream,
  });
  port = proxy.ports.https;
});

afterAll(async () => {
  await proxy?.stop(true);
  await echo?.stop(true);
  testCA?.cleanup();
});

interface WrkSummary {
  requests: number;
  /** wrk's "Socket errors: connect A, read B, write C, timeout D" line, or "none". */
  socketErrors: string;
  non2xx: number;
}

/** wrk prints its "Socket errors" and "Non-2xx or 3xx responses: N" lines only when there were any. */
function parseWrk(output: string): WrkSummary {
  const total = /(\d+) requests in /.exec(output);
  const errors = /Socket errors: .*/.exec(output);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  if (!total) throw new Error(`unexpected wrk output:\n${output}`);
  return {
    requests: Number(total[1]),
    socketErrors: errors ? errors[0] : "none",
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  };
}

async function waitForRequests(): Promise<void> {
  for (let poll = 0; poll < MAX_POLLS && requests === 0; poll++) await Bun.sleep(100);
  if (requests === 0) throw new Error("wrk sent no request through the proxy");
}

const wrkTool = requireTools("wrk");

describe.skipIf(wrkTool.skip)(wrkTool.title("listener swap under load"), () => {
  let last: { routes: ProxyRoute[]; tls: TlsEntry[] };

  test(`${SWAPS} swaps while wrk ${WRK_ARGS.join(" ")} runs: zero failed requests`, async () => {
    const wrk = run(["wrk", ...WRK_ARGS, "-H", "Host: stable.local", `https://127.0.0.1:${port}/`]);
    await waitForRequests();
    // Each update() drains the old listener for 3 quiet polls (~150 ms) or more: 12 swaps fit inside the 6 s run.
    for (let n = 1; n <= SWAPS; n++) last = await swapTo(n);
    const afterLastSwap = requests;
    const result = await wrk;
    expect(result.exitCode).toBe(0);
    const summary = parseWrk(result.stdout);
    // The load really overlapped the swaps: requests kept arriving after the last one.
    expect(requests).toBeGreaterThan(afterLastSwap);
    expect(summary.requests).toBeGreaterThan(0);
    expect({ socketErrors: summary.socketErrors, non2xx: summary.non2xx }).toEqual({ socketErrors: "none", non2xx: 0 });
  }, 30_000);

  test("after the swaps, the newest route's certificate is served and works with curl", async () => {
    const name = `gen-${SWAPS}.local`;
    expect(await servedCert(port, name, testCA.caPath)).toBe(entryCert(last.tls, name));
    const { status } = statusAndBody(await curl("https", name, port, "/", ["--cacert", testCA.caPath]));
    expect(status).toBe(200);
  });

  test("a removed route gets a 404 over its own certificate (kept as a spare); a name never served, the default", async () => {
    const { status, body } = statusAndBody(await curl("https", "gen-1.local", port, "/", ["--cacert", testCA.caPath]));
    expect(status).toBe(404);
    expect(body).toContain('No gotunnel route for "gen-1.local:');
    expect(await servedCert(port, "gen-1.local", testCA.caPath)).toBe(entryCert(last.tls, "gen-1.local"));
    expect(await servedCert(port, "never.local", testCA.caPath)).toBe(entryCert(last.tls, "localhost"));
  });
});

describe("a request in flight across a swap", () => {
  test("a slow upstream response started before update() completes with 200", async () => {
    slowArrived = Promise.withResolvers();
    const slow = curl("https", "stable.local", port, "/slow?ms=2000", ["--cacert", testCA.caPath]);
    await slowArrived.promise;
    await swapTo(SWAPS + 1);
    await swapTo(SWAPS + 2);
    const result = await slow;
    const { status, body } = statusAndBody(result);
    expect(result.stderr).toBe("");
    expect(status).toBe(200);
    expect(JSON.parse(body)).toMatchObject({ method: "GET", path: "/slow?ms=2000" });
  }, 20_000);
});

describe("a change while an earlier swap still drains", () => {
  test("apply() serves the next change at once; its `retired` waits for the earlier listener too", async () => {
    // A request in flight keeps its listener draining (retire) until it is answered.
    slowArrived = Promise.withResolvers();
    const slow = curl("https", "stable.local", port, "/slow?ms=1500", ["--cacert", testCA.caPath]);
    await slowArrived.promise;
    const first = generation(SWAPS + 30);
    proxy.apply(first, await testCA.entriesFor(first));
    const second = generation(SWAPS + 31);
    const applied = proxy.apply(second, await testCA.entriesFor(second));
    // Served from apply()'s return, while the first change's old listener still drains.
    const status = await fetch(`https://127.0.0.1:${port}/`, insecureFor(`gen-${SWAPS + 31}.local`)).then(
      (res) => res.status,
    );
    expect(status).toBe(200);
    let retired = false;
    void applied.retired.then(() => {
      retired = true;
    });
    // The slow request still holds the first change's old listener (its 1.5 s are far from over).
    await Bun.sleep(100);
    expect(retired).toBe(false);
    const { status: slowStatus } = statusAndBody(await slow);
    expect(slowStatus).toBe(200);
    await within(applied.retired, 10_000, "retired after the slow request");
  }, 20_000);
});

/** Rejects when `promise` has not settled within `ms`: a guard against hangs, not a timing assertion. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: Timer | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Next WebSocket message, as text. */
function nextMessage(ws: WebSocket): Promise<string> {
  return new Promise((resolve) =>
    ws.addEventListener("message", (event) => resolve(String(event.data)), { once: true }),
  );
}

describe("long-lived connections across a swap", () => {
  // These clients check the bridge, not the chain (proxy-server.test.ts does): the default certificate's IP SANs
  // are refused by Bun's verifier under the CA's name constraints (UNSUPPORTED_CONSTRAINT_TYPE).
  const insecure = { tls: { rejectUnauthorized: false }, headers: { host: "stable.local" } };

  test("update() does not wait for an open WebSocket or stream, and both keep working", async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/hmr`, insecure as unknown as string[]);
    try {
      await within(new Promise((resolve) => ws.addEventListener("open", resolve, { once: true })), 10_000, "ws open");
      const echoed = nextMessage(ws);
      ws.send("before");
      expect(await within(echoed, 10_000, "ws echo")).toBe("before");
      const lines = 20;
      const stream = await fetch(`https://127.0.0.1:${port}/stream?chunks=${lines}&ms=100`, insecure);
      const reader = stream.body!.getReader();
      const first = await reader.read();
      // Before the fix, update() awaited the old listener's stop(), which waits for every WebSocket to close.
      await within(swapTo(SWAPS + 10), 15_000, "update() with an open WebSocket and stream");
      const again = nextMessage(ws);
      ws.send("after");
      expect(await within(again, 10_000, "ws echo after the swap")).toBe("after");
      let text = new TextDecoder().decode(first.value);
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        text += new TextDecoder().decode(chunk.value);
      }
      expect(text.trim().split("\n")).toHaveLength(lines);
    } finally {
      ws.close();
    }
  }, 30_000);
});

describe("adding and retiring an address (LAN sharing on and off)", () => {
  // 127.0.0.2 stands in for 0.0.0.0: tests on this machine never listen beyond loopback (tests/helpers/netns.ts).
  const extra = "127.0.0.2";
  const reach = (host: string) =>
    fetch(`https://${host}:${port}/`, insecureFor("stable.local")).then(
      (res) => res.status,
      () => "refused",
    );

  test("a new address serves at once; retiring it leaves the first one serving", async () => {
    const routes = generation(0);
    await proxy.update(routes, undefined, ["127.0.0.1", extra]);
    expect(proxy.hosts).toEqual(["127.0.0.1", extra]);
    expect(await reach(extra)).toBe(200);
    await proxy.update(routes, undefined, ["127.0.0.1"]);
    expect(proxy.hosts).toEqual(["127.0.0.1"]);
    expect(await reach("127.0.0.1")).toBe(200);
    // retire() leaves stop() running in the background: the address goes once its connections have.
    for (let poll = 0; poll < MAX_POLLS && (await reach(extra)) !== "refused"; poll++) await Bun.sleep(100);
    expect(await reach(extra)).toBe("refused");
  }, 15_000);

  test("an address that cannot be bound throws and changes nothing", async () => {
    // Held without reusePort by another listener, so our reusePort bind is refused.
    const holder = Bun.serve({ hostname: "127.0.0.3", port, fetch: () => new Response("not ours") });
    try {
      const outcome = await proxy.update(generation(0), undefined, ["127.0.0.1", "127.0.0.3"]).then(
        () => "bound",
        (error: unknown) => String(error),
      );
      expect(outcome).toContain("127.0.0.3");
      expect(proxy.hosts).toEqual(["127.0.0.1"]);
      expect(await reach("127.0.0.1")).toBe(200);
    } finally {
      holder.stop(true);
    }
  });

  test("with new routes and certificates too, a failed bind keeps the old routes served (nothing half-applied)", async () => {
    const holder = Bun.serve({ hostname: "127.0.0.3", port, fetch: () => new Response("not ours") });
    try {
      const next = generation(77);
      const outcome = await proxy
        .update(next, await testCA.entriesFor(next), ["127.0.0.1", "127.0.0.3"])
        .then(() => "bound", String);
      expect(outcome).toContain("127.0.0.3");
      expect(proxy.routes.map((r) => r.name)).toEqual(generation(0).map((r) => r.name));
      const newRoute = await fetch(`https://127.0.0.1:${port}/`, insecureFor("gen-77.local"));
      expect(newRoute.status).toBe(404);
      expect(await reach("127.0.0.1")).toBe(200);
    } finally {
      holder.stop(true);
    }
  });
});

function insecureFor(host: string): RequestInit {
  return { tls: { rejectUnauthorized: false }, headers: { host } } as RequestInit;
}
