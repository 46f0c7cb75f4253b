/**
 * Dialing: refused ports, connect timeouts, and `localhost` dev servers bound to only one loopback family.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { TCPSocketListener } from "bun";
import type { UpstreamRequest } from "../../src/proxy/upstream/index.ts";
import { UpstreamError, UpstreamPool } from "../../src/proxy/upstream/index.ts";
import { requireTools } from "../helpers/tools.ts";

const python = requireTools("python3");

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function newPool(options?: ConstructorParameters<typeof UpstreamPool>[0]): UpstreamPool {
  const pool = new UpstreamPool(options);
  cleanups.push(() => pool.close());
  return pool;
}

/** An HTTP responder on one address that says which address family accepted the connection. */
function listenOn(hostname: string, port = 0): TCPSocketListener<undefined> {
  const listener = Bun.listen({
    hostname,
    port,
    socket: {
      data(socket) {
        const body = socket.localAddress.includes(":") ? "v6" : "v4";
        socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n${body}`);
      },
    },
  });
  cleanups.push(() => listener.stop(true));
  return listener;
}

const GET: UpstreamRequest = { method: "GET", path: "/", headers: [["Host", "app.local"]], body: null };

async function rejection(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof UpstreamError) return err;
    throw err;
  }
  throw new Error("expected an UpstreamError");
}

/** A filler dial fails when the python listener exits at cleanup; that is expected and irrelevant. */
function ignoreFillerFailure(_expected: unknown): void {}

/** A port nothing listens on: bind one, then release it. */
function closedPort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

describe("dialing upstreams", () => {
  test("a refused connection is UpstreamError kind refused, with a hint", async () => {
    const port = closedPort();
    const err = await rejection(newPool().request({ hostname: "127.0.0.1", port }, GET));
    expect(err.kind).toBe("refused");
    expect(err.code).toBe("E_UPSTREAM");
    expect(err.hint).toContain(`127.0.0.1:${port}`);
  });

  test("localhost reaches a dev server listening on 127.0.0.1 only", async () => {
    const { port } = listenOn("127.0.0.1");
    const res = await newPool().request({ hostname: "localhost", port }, GET);
    expect(await res.text()).toBe("v4");
  });

  test("localhost reaches a dev server listening on ::1 only", async () => {
    const { port } = listenOn("::1");
    const res = await newPool().request({ hostname: "localhost", port }, GET);
    expect(await res.text()).toBe("v6");
  });

  test("the address that worked is remembered, and forgotten when it starts refusing", async () => {
    const v4 = listenOn("127.0.0.1");
    const port = v4.port;
    const pool = newPool();
    expect(await (await pool.request({ hostname: "localhost", port }, GET)).text()).toBe("v4");
    v4.stop(true);
    listenOn("::1", port);
    // The pooled v4 socket died with its server; the next dial is refused on v4 and succeeds on v6.
    for (let i = 0; i < 100 && pool.stats().open > 0; i++) await Bun.sleep(10);
    expect(await (await pool.request({ hostname: "localhost", port }, GET)).text()).toBe("v6");
  });

  test("bracketed IPv6 literals work as targets", async () => {
    const { port } = listenOn("::1");
    expect(await (await newPool().request({ hostname: "[::1]", port }, GET)).text()).toBe("v6");
  });

  test("localhost with nothing on either family is refused", async () => {
    const err = await rejection(newPool().request({ hostname: "localhost", port: closedPort() }, GET));
    expect(err.kind).toBe("refused");
  });

  test.skipIf(python.skip)(python.title("a connect that never completes is kind timeout"), async () => {
    // A listener with backlog 0 that never accepts: once its queue holds one connection, Linux drops
    // further SYNs and the next connect hangs, all on loopback.
    const script =
      "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)";
    const python = Bun.spawn(["python3", "-c", script], { stdout: "pipe" });
    cleanups.push(() => python.kill());
    const reader = python.stdout.getReader();
    const port = Number(new TextDecoder().decode((await reader.read()).value).trim());
    reader.releaseLock();
    // Fill the accept queue with plain sockets; each dial gets a bounded wait, the later ones never complete.
    for (let i = 0; i < 3; i++) {
      const filler = Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      filler.then((socket) => cleanups.push(() => socket.terminate()), ignoreFillerFailure);
      await Promise.race([filler, Bun.sleep(100)]);
    }
    const pool = newPool({ connectTimeoutMs: 200 });
    const err = await rejection(pool.request({ hostname: "127.0.0.1", port }, GET));
    expect(err.kind).toBe("timeout");
    expect(pool.stats().open).toBe(0);
  });

  test("invalid targets and options are rejected up front", async () => {
    const pool = newPool();
    await expect(pool.request({ hostname: "", port: 80 }, GET)).rejects.toThrow(TypeError);
    await expect(pool.request({ hostname: "localhost", port: 70_000 }, GET)).rejects.toThrow(TypeError);
    expect(() => new UpstreamPool({ maxSocketsPerOrigin: 0 })).toThrow(TypeError);
  });
});
