/**
 * Several backends per route, through the compiled binary: two real upstream servers (Bun.serve on loopback) behind
 * one name. round_robin takes turns; a backend killed while a client sends a stream of GETs costs no GET; a POST to
 * a dead backend is not retried (502); first fails over; least_conn avoids a backend holding slow requests; the
 * active health check takes a backend out and puts it back; a WebSocket stays on the backend it opened on; `list
 * --json` and `/metrics` (promtool) show each backend's state.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Server, ServerWebSocket } from "bun";
import { E2EScope, freePort, requireBinary, run, runGotunnel, until } from "../helpers/e2e.ts";
import { requireTools } from "../helpers/tools.ts";

const scope = new E2EScope();
afterAll(() => scope.dispose());
const promtool = requireTools("promtool");

const PORTS = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };

/** A dev server that says its name, counts requests by method, can hold requests and fail its /healthz. */
class Backend {
  server: Server<undefined>;
  readonly methods: string[] = [];
  healthy = true;
  /** Requests to /hold wait here until released. */
  readonly held: (() => void)[] = [];

  constructor(
    readonly name: string,
    port = 0,
    /** Whether /hold waits to be released (a slow backend) or answers at once. */
    private readonly holds = false,
  ) {
    this.server = this.listen(port);
    this.port = this.server.port ?? 0;
    scope.defer(() => this.server.stop(true));
  }

  /** Kept: a stopped server says 0. */
  readonly port: number;

  /** Stops it and cuts its open connections, as a crashed dev server would. */
  kill(): void {
    this.server.stop(true);
  }

  restart(): void {
    this.server = this.listen(this.port);
  }

  /** A body that sends its name, then waits to be released before it ends. */
  private stream(): Response {
    const held = this.held;
    const name = this.name;
    return new Response(
      new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode(name));
          await new Promise<void>((release) => held.push(release));
          controller.close();
        },
      }),
    );
  }

  private listen(port: number): Server<undefined> {
    return Bun.serve<undefined>({
      hostname: "127.0.0.1",
      port,
      fetch: async (request, server) => {
        const path = new URL(request.url).pathname;
        if (path === "/healthz")
          return new Response(this.healthy ? "ok" : "sick", { status: this.healthy ? 200 : 503 });
        this.methods.push(request.method);
        if (request.headers.get("upgrade") === "websocket") {
          return server.upgrade(request, { data: undefined }) ? undefined : new Response("no", { status: 400 });
        }
        if (path === "/hold" && this.holds) await new Promise<void>((release) => this.held.push(release));
        if (path === "/stream") return this.stream();
        return new Response(this.name);
      },
      websocket: {
        message: (ws: ServerWebSocket<undefined>, message) => void ws.send(`${this.name}:${String(message)}`),
      },
    });
  }
}

interface Route {
  home: string;
  httpPort: number;
}

/** `gotunnel start -d NAME <flags…> --no-https` in a fresh home; requests go to its plain-HTTP listener. */
async function start(name: string, flags: string[]): Promise<Route> {
  requireBinary();
  const home = scope.dir(name);
  const started = await runGotunnel(["start", "-d", name, ...flags, "--no-https", "--json"], {
    cwd: home,
    home,
    env: PORTS,
  });
  if (started.exitCode !== 0) throw new Error(`gotunnel start failed (${started.exitCode}): ${started.stderr}`);
  const ready = JSON.parse(started.stdout.split("\n")[0] ?? "") as { ports: { http: number } };
  return { home, httpPort: ready.ports.http };
}

function get(route: Route, name: string, path = "/", init: RequestInit = {}): Promise<Response> {
  return fetch(`http://127.0.0.1:${route.httpPort}${path}`, { ...init, headers: { host: name } });
}

async function listed(route: Route) {
  const result = await runGotunnel(["list", "--json"], { cwd: route.home, home: route.home });
  expect(result.exitCode).toBe(0);
  const { routes } = JSON.parse(result.stdout) as {
    routes: {
      name: string;
      status: string;
      policy?: string;
      backends?: {
        origin: string;
        state: string;
        inFlight: number;
        requests: number;
        reason?: string;
        listening?: boolean;
      }[];
    }[];
  };
  return routes;
}

/** `until` for an async probe: polls every 100 ms until it resolves to a value, or undefined after `timeoutMs`. */
async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined || Date.now() > deadline) return value;
    await Bun.sleep(100);
  }
}

const origin = (backend: Backend) => `http://localhost:${backend.port}`;

describe("several backends for one route", () => {
  test("round_robin takes turns; a backend killed mid-stream costs no GET; list and /metrics show it down", async () => {
    const a = new Backend("a");
    const b = new Backend("b");
    const route = await start("rr.local", ["-p", String(a.port), "-p", String(b.port)]);
    const bodies: string[] = [];
    for (let i = 0; i < 10; i++) bodies.push(await (await get(route, "rr.local")).text());
    expect(bodies).toEqual(["a", "b", "a", "b", "a", "b", "a", "b", "a", "b"]);

    // Four clients send 400 GETs in all; after the first 100 answers, a dies with its connections.
    let answered = 0;
    const failures: string[] = [];
    const seen = { a: 0, b: 0 } as Record<string, number>;
    const client = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const response = await get(route, "rr.local");
        const text = await response.text();
        if (response.status !== 200) failures.push(`${response.status} ${text.slice(0, 200)}`);
        else seen[text] = (seen[text] ?? 0) + 1;
        if (++answered === 100) a.kill();
      }
    };
    await Promise.all([client(100), client(100), client(100), client(100)]);
    expect(failures).toEqual([]);
    expect((seen.a ?? 0) + (seen.b ?? 0)).toBe(400);
    expect(seen.b).toBeGreaterThan(200);

    const [info] = await listed(route);
    expect(info?.status).toBe("serving");
    expect(info?.backends?.map((backend) => [backend.origin, backend.state])).toEqual([
      [origin(a), "down"],
      [origin(b), "up"],
    ]);
    expect(info?.backends?.[0]?.reason).toContain("refused");
    expect(info?.backends?.map((backend) => backend.listening)).toEqual([false, true]);

    const status = JSON.parse((await runGotunnel(["status", "--json"], { cwd: route.home, home: route.home })).stdout);
    const metrics = await (await fetch(`http://127.0.0.1:${status.admin.port}/metrics`)).text();
    expect(metrics).toContain(`gotunnel_backend_up{route="rr.local",backend="${origin(a)}"} 0`);
    expect(metrics).toContain(`gotunnel_backend_up{route="rr.local",backend="${origin(b)}"} 1`);
    expect(metrics).toMatch(
      new RegExp(`gotunnel_backend_requests_total\\{route="rr.local",backend="${origin(b)}"\\} \\d+`),
    );
    if (!promtool.skip) {
      const file = join(route.home, "metrics.txt");
      writeFileSync(file, metrics);
      const check = await run(["sh", "-c", `promtool check metrics < ${file}`]);
      expect(check.stderr + check.stdout).toBe("");
      expect(check.exitCode).toBe(0);
    }
  });

  test("first fails over; a POST to a dead backend is not retried (502), a GET is", async () => {
    const deadPort = await freePort();
    const b = new Backend("b");
    const route = await start("first.local", ["-p", String(deadPort), "-p", String(b.port), "--policy", "first"]);
    const post = await get(route, "first.local", "/", { method: "POST", body: "order=1" });
    expect(post.status).toBe(502);
    expect(await post.text()).toContain(`localhost:${deadPort}`);
    expect(b.methods).toEqual([]);

    const first = await get(route, "first.local");
    expect([first.status, await first.text()]).toEqual([200, "b"]);
    // The dead backend is skipped now: the next POST goes straight to b.
    const second = await get(route, "first.local", "/", { method: "POST", body: "order=2" });
    expect([second.status, await second.text()]).toEqual([200, "b"]);
    expect(b.methods).toEqual(["GET", "POST"]);
  });

  test("first sends everything to the first backend while it is up", async () => {
    const a = new Backend("a");
    const b = new Backend("b");
    const route = await start("failover.local", ["-p", String(a.port), "-p", String(b.port), "--policy", "first"]);
    const before = await Promise.all([1, 2, 3].map(async () => (await get(route, "failover.local")).text()));
    expect(before).toEqual(["a", "a", "a"]);
    a.kill();
    const after = await Promise.all([1, 2, 3].map(async () => (await get(route, "failover.local")).text()));
    expect(after).toEqual(["b", "b", "b"]);
  });

  test("least_conn sends new requests to the idle backend while the other holds slow ones", async () => {
    const slow = new Backend("slow", 0, true);
    const idle = new Backend("idle");
    const route = await start("lc.local", ["-p", String(slow.port), "-p", String(idle.port), "--policy", "least_conn"]);
    // Each request lands on `idle` (answered at once) or on `slow` (held until released: seen by its count).
    const pending: Promise<string>[] = [];
    const landedOn: string[] = [];
    for (let i = 0; i < 8; i++) {
      const heldBefore = slow.held.length;
      const request = get(route, "lc.local", "/hold").then((response) => response.text());
      pending.push(request);
      const held = until(() => (slow.held.length > heldBefore ? "slow" : undefined));
      landedOn.push((await Promise.race([request, held])) ?? "nowhere");
    }
    // The first is a tie (both idle) and goes to the first backend; every later one avoids the busy backend.
    expect(landedOn).toEqual(["slow", "idle", "idle", "idle", "idle", "idle", "idle", "idle"]);
    const [info] = await listed(route);
    expect(info?.backends?.map((backend) => backend.inFlight)).toEqual([1, 0]);
    for (const release of slow.held) release();
    expect(await pending[0]).toBe("slow");
  });

  test("the active health check takes a backend with a failing /healthz out, and puts it back", async () => {
    const a = new Backend("a");
    const b = new Backend("b");
    const config = {
      routes: {
        "hc.local": {
          targets: [a.port, b.port],
          policy: "first",
          https: false,
          health: { path: "/healthz", interval: "200ms" },
        },
      },
    };
    const dir = scope.project({ "gotunnel.config.json": JSON.stringify(config) });
    const home = scope.dir("hc");
    const up = await scope.up(dir, home);
    const route = { home, httpPort: up.ready?.ports.http ?? 0 };
    expect(await (await get(route, "hc.local")).text()).toBe("a");

    a.healthy = false;
    const down = await eventually(async () => {
      const [info] = await listed(route);
      return info?.backends?.[0]?.state === "down" ? info : undefined;
    });
    expect(down?.backends?.[0]?.reason).toBe("/healthz answered 503");
    expect(await (await get(route, "hc.local")).text()).toBe("b");

    a.healthy = true;
    const back = await eventually(async () => {
      const [info] = await listed(route);
      return info?.backends?.[0]?.state === "up" ? info : undefined;
    });
    expect(back?.status).toBe("serving");
    expect(await (await get(route, "hc.local")).text()).toBe("a");
  });

  test("a WebSocket stays on the backend it opened on, counted in flight there while open", async () => {
    const a = new Backend("a");
    const b = new Backend("b");
    const route = await start("ws.local", ["-p", String(a.port), "-p", String(b.port)]);
    const open = async () => {
      const socket = new WebSocket(`ws://127.0.0.1:${route.httpPort}/socket`, {
        headers: { host: "ws.local" },
      } as unknown as string[]);
      const messages: string[] = [];
      socket.addEventListener("message", (event) => messages.push(String(event.data)));
      await new Promise((resolve, reject) => {
        socket.addEventListener("open", resolve);
        socket.addEventListener("error", reject);
      });
      return { socket, messages };
    };
    const first = await open();
    const second = await open();
    // Plain requests in between keep taking turns; the sockets must not follow them.
    for (let i = 0; i < 5; i++) {
      await (await get(route, "ws.local")).text();
      first.socket.send(`m${i}`);
      second.socket.send(`m${i}`);
    }
    await until(() => (first.messages.length === 5 && second.messages.length === 5 ? true : undefined));
    expect(first.messages).toEqual(["a:m0", "a:m1", "a:m2", "a:m3", "a:m4"]);
    expect(second.messages).toEqual(["b:m0", "b:m1", "b:m2", "b:m3", "b:m4"]);
    const [info] = await listed(route);
    expect(info?.backends?.map((backend) => backend.inFlight)).toEqual([1, 1]);
    first.socket.close();
    second.socket.close();
    const closed = await eventually(async () => {
      const [after] = await listed(route);
      return after?.backends?.every((backend) => backend.inFlight === 0) ? after : undefined;
    });
    expect(closed).toBeDefined();
  });

  test("a WebSocket whose backend refuses the connection opens on the next one", async () => {
    const deadPort = await freePort();
    const b = new Backend("b");
    const route = await start("wsfail.local", ["-p", String(deadPort), "-p", String(b.port), "--policy", "first"]);
    const socket = new WebSocket(`ws://127.0.0.1:${route.httpPort}/socket`, {
      headers: { host: "wsfail.local" },
    } as unknown as string[]);
    const reply = new Promise<string>((resolve, reject) => {
      socket.addEventListener("open", () => socket.send("hello"));
      socket.addEventListener("message", (event) => resolve(String(event.data)));
      socket.addEventListener("error", reject);
    });
    expect(await reply).toBe("b:hello");
    socket.close();
    const [info] = await listed(route);
    expect(info?.backends?.[0]?.state).toBe("down");
  });

  test("a streamed response counts in flight on its backend until its body ends", async () => {
    const a = new Backend("a");
    const b = new Backend("b");
    const route = await start("stream.local", ["-p", String(a.port), "-p", String(b.port), "--policy", "least_conn"]);
    const response = await get(route, "stream.local", "/stream");
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("a");
    const [streaming] = await listed(route);
    expect(streaming?.backends?.map((backend) => backend.inFlight)).toEqual([1, 0]);
    for (const release of a.held) release();
    while (!(await reader.read()).done) {}
    const done = await eventually(async () => {
      const [after] = await listed(route);
      return after?.backends?.[0]?.inFlight === 0 ? after : undefined;
    });
    expect(done?.backends?.map((backend) => backend.requests)).toEqual([1, 0]);
  });
});
