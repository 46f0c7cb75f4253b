/**
 * UpstreamPool against raw TCP servers that send crafted bytes: the wire cases a real dev server rarely shows
 * on demand (split packets, interim responses, bad framing, dead keep-alive sockets).
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import type { UpstreamRequest } from "../../src/proxy/upstream/index.ts";
import { UpstreamError, UpstreamPool } from "../../src/proxy/upstream/index.ts";

interface RawConn {
  id: number;
  socket: Socket<RawConn>;
  pending: string;
  requests: string[];
  closed: boolean;
}

type OnRequest = (conn: RawConn, head: string) => unknown;

/** A loopback server that hands each request head (bodies are not expected) to `onRequest`. */
function rawServer(onRequest: OnRequest, hostname = "127.0.0.1") {
  const conns: RawConn[] = [];
  const listener: TCPSocketListener<RawConn> = Bun.listen<RawConn>({
    hostname,
    port: 0,
    socket: {
      open(socket) {
        socket.setNoDelay(true);
        socket.data = { id: conns.length, socket, pending: "", requests: [], closed: false };
        conns.push(socket.data);
      },
      data(socket, bytes) {
        const conn = socket.data;
        conn.pending += bytes.toString("latin1");
        for (let end = conn.pending.indexOf("\r\n\r\n"); end >= 0; end = conn.pending.indexOf("\r\n\r\n")) {
          const head = conn.pending.slice(0, end);
          conn.pending = conn.pending.slice(end + 4);
          conn.requests.push(head);
          void onRequest(conn, head);
        }
      },
      close(socket) {
        socket.data.closed = true;
      },
    },
  });
  return { port: listener.port, conns, listener };
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function serve(onRequest: OnRequest, hostname = "127.0.0.1") {
  const server = rawServer(onRequest, hostname);
  cleanups.push(() => server.listener.stop(true));
  return server;
}

function newPool(options?: ConstructorParameters<typeof UpstreamPool>[0]): UpstreamPool {
  const pool = new UpstreamPool(options);
  cleanups.push(() => pool.close());
  return pool;
}

function get(path = "/", extra: Partial<UpstreamRequest> = {}): UpstreamRequest {
  return { method: "GET", path, headers: [["Host", "app.local"]], body: null, ...extra };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

/** Polls until `condition` holds; the bound only keeps a broken build from hanging the suite. */
async function eventually(condition: () => boolean, attempts = 200): Promise<void> {
  for (let i = 0; i < attempts && !condition(); i++) await Bun.sleep(10);
  expect(condition()).toBe(true);
}

async function writeBytewise(socket: Socket<RawConn>, text: string): Promise<void> {
  for (const char of text) {
    socket.write(char);
    await Bun.sleep(1);
  }
}

describe("UpstreamPool on the wire", () => {
  test("a response split into 1-byte packets, chunked body included", async () => {
    const response =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" +
      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
    const { port } = serve((conn) => writeBytewise(conn.socket, response));
    const res = await newPool().request({ hostname: "127.0.0.1", port }, get());
    expect(res.status).toBe(200);
    expect(res.headers.get("transfer-encoding")).toBeNull();
    expect(await res.text()).toBe("hello world");
  });

  test("every Set-Cookie survives, and so do other repeated fields", async () => {
    const { port } = serve((conn) =>
      conn.socket.write(
        "HTTP/1.1 200 OK\r\nSet-Cookie: a=1; HttpOnly\r\nSet-Cookie: b=2\r\nSet-Cookie: c=3\r\n" +
          "Link: </a>; rel=preload\r\nLink: </b>; rel=preload\r\nContent-Length: 0\r\n\r\n",
      ),
    );
    const res = await newPool().request({ hostname: "127.0.0.1", port }, get());
    expect(res.headers.getSetCookie()).toEqual(["a=1; HttpOnly", "b=2", "c=3"]);
    expect(res.headers.get("link")).toBe("</a>; rel=preload, </b>; rel=preload");
  });

  test("100 Continue and 103 Early Hints are skipped; 101 is a protocol error", async () => {
    const { port } = serve((conn, head) => {
      if (head.startsWith("GET /upgrade")) {
        conn.socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
        return;
      }
      conn.socket.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n");
      conn.socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok");
    });
    const pool = newPool();
    const res = await pool.request({ hostname: "127.0.0.1", port }, get());
    expect(res.status).toBe(200);
    expect(res.headers.get("link")).toBeNull();
    expect(await res.text()).toBe("ok");
    const err = await rejection(pool.request({ hostname: "127.0.0.1", port }, get("/upgrade")));
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).kind).toBe("protocol");
  });

  test("HEAD, 204 and 304 carry no body and keep the socket", async () => {
    const { port, conns } = serve((conn, head) => {
      if (head.startsWith("HEAD")) conn.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
      else if (head.startsWith("GET /204")) conn.socket.write("HTTP/1.1 204 No Content\r\n\r\n");
      else conn.socket.write('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 99\r\n\r\n');
    });
    const pool = newPool();
    const target = { hostname: "127.0.0.1", port };
    const head = await pool.request(target, get("/", { method: "HEAD" }));
    expect(head.headers.get("content-length")).toBe("1234");
    expect(head.body).toBeNull();
    const noContent = await pool.request(target, get("/204"));
    expect(noContent.status).toBe(204);
    expect(noContent.body).toBeNull();
    const notModified = await pool.request(target, get("/304"));
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get("etag")).toBe('"x"');
    expect(conns).toHaveLength(1);
    expect(conns[0]!.requests).toHaveLength(3);
  });

  test("a close-delimited body is read to the end and the socket is not pooled", async () => {
    const { port } = serve(async (conn) => {
      conn.socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part, ");
      await Bun.sleep(20);
      conn.socket.end("second part");
    });
    const pool = newPool();
    const res = await pool.request({ hostname: "127.0.0.1", port }, get());
    expect(await res.text()).toBe("first part, second part");
    await eventually(() => pool.stats().open === 0);
  });

  test("keep-alive: N requests travel on one connection", async () => {
    const { port, conns } = serve((conn) =>
      conn.socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"),
    );
    const pool = newPool();
    for (let i = 0; i < 5; i++) {
      const res = await pool.request({ hostname: "127.0.0.1", port }, get(`/${i}`));
      expect(await res.text()).toBe("ok");
    }
    expect(conns).toHaveLength(1);
    expect(conns[0]!.requests.map((head) => head.split(" ")[1])).toEqual(["/0", "/1", "/2", "/3", "/4"]);
    expect(pool.stats()).toMatchObject({ open: 1, idle: 1, queued: 0 });
  });

  test("`Connection: close` from upstream retires the socket", async () => {
    const { port, conns } = serve((conn) =>
      conn.socket.write(
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
      ),
    );
    const pool = newPool();
    for (let i = 0; i < 2; i++)
      expect(await (await pool.request({ hostname: "127.0.0.1", port }, get())).text()).toBe("ok");
    expect(conns).toHaveLength(2);
  });

  test("the pool bound: 10 concurrent requests over at most 2 sockets, FIFO", async () => {
    const { port, conns } = serve(async (conn, head) => {
      await Bun.sleep(5);
      const path = head.split(" ")[1]!;
      conn.socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${path.length}\r\n\r\n${path}`);
    });
    const pool = newPool({ maxSocketsPerOrigin: 2 });
    const pending = Array.from({ length: 10 }, (_, i) => pool.request({ hostname: "127.0.0.1", port }, get(`/${i}`)));
    expect(pool.stats().queued).toBe(8);
    const bodies = await Promise.all(pending.map(async (p) => (await p).text()));
    expect(bodies).toEqual(Array.from({ length: 10 }, (_, i) => `/${i}`));
    expect(conns.length).toBeLessThanOrEqual(2);
    expect(conns.reduce((sum, conn) => sum + conn.requests.length, 0)).toBe(10);
    expect(pool.stats().queued).toBe(0);
  });

  test("a dead idle socket is retried once on a fresh one (idempotent or bodiless only)", async () => {
    // The server answers the first request on each connection, then closes it when the next request arrives:
    // the classic race with an upstream's keep-alive timeout.
    const { port, conns } = serve((conn) => {
      if (conn.requests.length > 1) conn.socket.terminate();
      else conn.socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok");
    });
    const pool = newPool();
    const target = { hostname: "127.0.0.1", port };
    expect(await (await pool.request(target, get())).text()).toBe("ok");
    expect(await (await pool.request(target, get())).text()).toBe("ok");
    expect(conns).toHaveLength(2);

    const body = new Blob(["payload"]).stream();
    const post = pool.request(target, { ...get(), method: "POST", body, contentLength: 7 });
    const err = await rejection(post);
    expect((err as UpstreamError).kind).toBe("reset");
    expect(conns).toHaveLength(2);
  });

  test("an upstream that closes mid-body errors the body stream with kind reset", async () => {
    const { port } = serve((conn) => {
      conn.socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly ten b");
      setTimeout(() => conn.socket.end(), 20);
    });
    const pool = newPool();
    const res = await pool.request({ hostname: "127.0.0.1", port }, get());
    const err = await rejection(res.text());
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).kind).toBe("reset");
    await eventually(() => pool.stats().open === 0);
  });

  test("malformed responses are protocol errors and the socket is dropped", async () => {
    const { port } = serve((conn) =>
      conn.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
    );
    const pool = newPool();
    const err = await rejection(pool.request({ hostname: "127.0.0.1", port }, get()));
    expect((err as UpstreamError).kind).toBe("protocol");
    expect(pool.stats().open).toBe(0);
  });

  test("bytes after a complete response make the socket unusable", async () => {
    const { port, conns } = serve((conn) =>
      conn.socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nokEXTRA"),
    );
    const pool = newPool();
    for (let i = 0; i < 2; i++)
      expect(await (await pool.request({ hostname: "127.0.0.1", port }, get())).text()).toBe("ok");
    expect(conns).toHaveLength(2);
  });

  test("aborting a request destroys its socket; an aborted queued request never reaches upstream", async () => {
    const { port, conns } = serve(() => {});
    const pool = newPool({ maxSocketsPerOrigin: 1 });
    const target = { hostname: "127.0.0.1", port };
    const first = new AbortController();
    const second = new AbortController();
    const inFlight = pool.request(target, get("/slow", { signal: first.signal }));
    const queued = pool.request(target, get("/queued", { signal: second.signal }));
    await eventually(() => conns[0]?.requests.length === 1);
    expect(pool.stats().queued).toBe(1);
    second.abort();
    expect(((await rejection(queued)) as Error).name).toBe("AbortError");
    expect(pool.stats().queued).toBe(0);
    first.abort();
    expect(((await rejection(inFlight)) as Error).name).toBe("AbortError");
    await eventually(() => conns[0]!.closed);
    expect(pool.stats().open).toBe(0);
    expect(conns[0]!.requests).toHaveLength(1);
  });

  test("aborting or cancelling mid-body destroys the socket instead of pooling it", async () => {
    const { port, conns } = serve((conn) =>
      conn.socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nfirst bytes"),
    );
    const pool = newPool();
    const target = { hostname: "127.0.0.1", port };
    const controller = new AbortController();
    const aborted = await pool.request(target, get("/", { signal: controller.signal }));
    const reading = rejection(aborted.text());
    controller.abort();
    expect(((await reading) as Error).name).toBe("AbortError");
    await eventually(() => conns[0]!.closed);

    const cancelled = await pool.request(target, get());
    const reader = cancelled.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("first bytes");
    await reader.cancel();
    await eventually(() => conns[1]?.closed === true);
    expect(conns).toHaveLength(2);
    expect(pool.stats()).toMatchObject({ open: 0, idle: 0, queued: 0 });
  });

  test("idle sockets are closed after idleTimeoutMs", async () => {
    const { port, conns } = serve((conn) =>
      conn.socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"),
    );
    const pool = newPool({ idleTimeoutMs: 50 });
    await (await pool.request({ hostname: "127.0.0.1", port }, get())).text();
    expect(pool.stats().idle).toBe(1);
    await eventually(() => conns[0]!.closed);
    expect(pool.stats()).toMatchObject({ open: 0, idle: 0, queued: 0 });
  });

  test("the sweep stops when no socket is idle and starts again for the next one (no timer wakes an idle daemon)", async () => {
    const { port, conns } = serve((conn) =>
      conn.socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"),
    );
    const pool = newPool({ idleTimeoutMs: 50 });
    const target = { hostname: "127.0.0.1", port };
    await (await pool.request(target, get())).text();
    await eventually(() => conns[0]!.closed);
    // Several sweep periods with nothing idle: the timer is stopped, and the next idle socket must start it again.
    await Bun.sleep(100);
    await (await pool.request(target, get())).text();
    expect(pool.stats().idle).toBe(1);
    await eventually(() => conns[1]?.closed === true);
    expect(pool.stats()).toMatchObject({ open: 0, idle: 0, queued: 0 });
  });

  test("close() fails queued and in-flight requests", async () => {
    const { port } = serve(() => {});
    const pool = new UpstreamPool({ maxSocketsPerOrigin: 1 });
    const target = { hostname: "127.0.0.1", port };
    const inFlight = pool.request(target, get());
    const queued = pool.request(target, get());
    const settled = Promise.allSettled([inFlight, queued]);
    await eventually(() => pool.stats().queued === 1 && pool.stats().open === 1);
    pool.close();
    for (const result of await settled) {
      expect(result.status).toBe("rejected");
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(UpstreamError);
    }
    expect(await rejection(pool.request(target, get()))).toBeInstanceOf(UpstreamError);
    expect(pool.stats()).toMatchObject({ open: 0, idle: 0, queued: 0 });
  });
});
