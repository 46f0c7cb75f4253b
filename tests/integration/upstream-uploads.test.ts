/**
 * UpstreamPool and request bodies that come slowly: a small body is read whole before it takes a socket (and goes
 * out with Content-Length), and bodies that still stream hold at most `maxUploadsPerOrigin` sockets, so the rest of
 * the pool stays free for other requests. Real Bun.serve upstream, bodies from streams this test controls.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { UpstreamPool } from "../../src/proxy/upstream/index.ts";

const MAX_SOCKETS = 4;
const MAX_UPLOADS = 2;
const BUFFER_BYTES = 1024;

let upstream: Server<undefined>;
/** Requests the upstream has seen start, by path, with their framing header. */
const started: { path: string; framing: string }[] = [];

beforeAll(() => {
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      const framing = req.headers.get("content-length") ?? `chunked:${req.headers.get("transfer-encoding")}`;
      started.push({ path: new URL(req.url).pathname, framing });
      const body = await req.arrayBuffer();
      return new Response(`got ${body.byteLength}`);
    },
  });
});

afterAll(() => upstream.stop(true));

/** A body the test feeds by hand: `first` now, the rest only when `end()` is called (never, for a stalled client). */
function handFedBody(first: Uint8Array) {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      c.enqueue(first);
    },
  });
  return { stream, end: () => controller.close() };
}

const target = () => ({ hostname: "127.0.0.1", port: upstream.port ?? 0 });

describe("slow request bodies and the pool", () => {
  test("streaming uploads hold at most maxUploadsPerOrigin sockets; small bodies and GETs still get through", async () => {
    const pool = new UpstreamPool({
      maxSocketsPerOrigin: MAX_SOCKETS,
      maxUploadsPerOrigin: MAX_UPLOADS,
      requestBufferBytes: BUFFER_BYTES,
    });
    const stalled = Array.from({ length: MAX_SOCKETS + 2 }, () => handFedBody(new Uint8Array(BUFFER_BYTES * 2)));
    const uploads = stalled.map((body, i) =>
      pool.request(target(), { method: "POST", path: `/upload/${i}`, headers: [], body: body.stream }),
    );
    // A small body that has not ended yet is read ahead and holds no socket meanwhile.
    const small = handFedBody(new Uint8Array(10));
    const smallPost = pool.request(target(), { method: "POST", path: "/small", headers: [], body: small.stream });
    const gets = Array.from({ length: MAX_SOCKETS }, (_, i) =>
      pool.request(target(), { method: "GET", path: `/get/${i}`, headers: [], body: null }),
    );
    expect(await Promise.all(gets.map(async (response) => (await response).text()))).toEqual(
      Array(MAX_SOCKETS).fill("got 0"),
    );
    const uploadsStarted = () => started.filter((request) => request.path.startsWith("/upload/")).length;
    for (let i = 0; i < 100 && uploadsStarted() < MAX_UPLOADS; i++) await Bun.sleep(10);
    // Given time to, no further upload reaches the upstream while those hold their slots.
    await Bun.sleep(100);
    expect(uploadsStarted()).toBe(MAX_UPLOADS);
    expect(started.some((request) => request.path === "/small")).toBe(false);
    small.end();
    expect(await (await smallPost).text()).toBe("got 10");
    expect(started.find((request) => request.path === "/small")?.framing).toBe("10");
    // Every upload gets its turn as the ones before it finish.
    for (const body of stalled) body.end();
    const answers = await Promise.all(uploads.map(async (response) => (await response).text()));
    expect(answers).toEqual(Array(stalled.length).fill(`got ${BUFFER_BYTES * 2}`));
    expect(pool.stats().queued).toBe(0);
    pool.close();
  });

  test("a body that ends within the read-ahead goes out whole with Content-Length, even when it came chunked", async () => {
    const pool = new UpstreamPool({ requestBufferBytes: BUFFER_BYTES });
    const body = handFedBody(new TextEncoder().encode("hello"));
    const response = pool.request(target(), { method: "PUT", path: "/whole", headers: [], body: body.stream });
    body.end();
    expect(await (await response).text()).toBe("got 5");
    expect(started.find((request) => request.path === "/whole")?.framing).toBe("5");
    pool.close();
  });
});
