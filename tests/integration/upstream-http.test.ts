/**
 * UpstreamPool against real Bun.serve upstreams: bodies both ways, Responses handed to another Bun.serve
 * (the proxy's situation), and large streams in bounded memory.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { UpstreamPool, type UpstreamRequest } from "../../src/proxy/upstream/index.ts";

const MIB = 1024 * 1024;
const STREAM_TOTAL_BYTES = 256 * MIB;
/** Well under the payload: a buffering bug would hold most of the 256 MiB at once. */
const RSS_GROWTH_LIMIT_BYTES = 80 * MIB;
const RSS_SAMPLE_PERIOD_MS = 20;
const GENERATED_CHUNK = new Uint8Array(64 * 1024).fill(0x61);

/** A pull-based stream of `total` bytes: the producer only runs when its consumer asks (backpressure). */
function generated(total: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) {
        controller.close();
        return;
      }
      const size = Math.min(GENERATED_CHUNK.byteLength, total - sent);
      controller.enqueue(size === GENERATED_CHUNK.byteLength ? GENERATED_CHUNK : GENERATED_CHUNK.subarray(0, size));
      sent += size;
    },
  });
}

/** Counts a stream's bytes, stalling for a moment after every MiB so that the producer gets ahead unless held back. */
async function countBytesSlowly(stream: ReadableStream<Uint8Array> | null): Promise<number> {
  let total = 0;
  let nextStall = MIB;
  if (stream === null) return total;
  for await (const chunk of stream) {
    total += chunk.byteLength;
    if (total >= nextStall) {
      nextStall += MIB;
      await Bun.sleep(1);
    }
  }
  return total;
}

function sha256(bytes: ArrayBuffer | Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}

/** Runs `work` while sampling RSS; returns the largest growth over the starting RSS. */
async function peakRssGrowth(work: () => Promise<void>): Promise<number> {
  Bun.gc(true);
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, RSS_SAMPLE_PERIOD_MS);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  return Math.max(peak, process.memoryUsage.rss()) - baseline;
}

const gzipped = Bun.gzipSync(new TextEncoder().encode("compressible ".repeat(500)));
const bigBody = new Uint8Array(8 * MIB).map((_, i) => (i * 7919) % 251);

let upstream: Server<undefined>;
let proxy: Server<undefined>;
let pool: UpstreamPool;

async function slowChunks(controller: ReadableStreamDirectController): Promise<void> {
  for (const part of ["first ", "second ", "third"]) {
    await controller.write(part);
    await controller.flush(true);
    await Bun.sleep(5);
  }
}

function upstreamFetch(req: Request): Response | Promise<Response> {
  const url = new URL(req.url);
  const seen = {
    "x-method": req.method,
    "x-te": req.headers.get("transfer-encoding") ?? "",
    "x-cl": req.headers.get("content-length") ?? "",
  };
  switch (url.pathname) {
    case "/echo":
      return new Response(req.body, { headers: { ...seen, "content-type": "application/octet-stream" } });
    case "/count":
      return countBytesSlowly(req.body).then(
        (n) => new Response(String(n), { headers: { "content-type": "text/plain" } }),
      );
    case "/chunked":
      return new Response(new ReadableStream({ type: "direct", pull: slowChunks }), {
        headers: { "content-type": "text/plain" },
      });
    case "/gzip":
      return new Response(gzipped, { headers: { "content-encoding": "gzip", "content-type": "text/plain" } });
    case "/big":
      return new Response(bigBody, { headers: { "content-type": "application/octet-stream" } });
    case "/generated":
      return new Response(generated(Number(url.searchParams.get("bytes"))));
    default:
      return new Response("hello", { headers: { "content-type": "text/plain", "set-cookie": "a=1" } });
  }
}

beforeAll(() => {
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    maxRequestBodySize: 2 * STREAM_TOTAL_BYTES,
    fetch: upstreamFetch,
  });
  pool = new UpstreamPool();
  const target = { hostname: "127.0.0.1", port: upstream.port! };
  // The proxy's situation: return the pool's Response from Bun.serve as it is.
  proxy = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/raw")
        return pool.request({ hostname: "127.0.0.1", port: Number(url.searchParams.get("port")) }, get("/"));
      return pool.request(target, get(url.pathname + url.search));
    },
  });
});

afterAll(() => {
  pool.close();
  proxy.stop(true);
  upstream.stop(true);
});

function get(path: string, extra: Partial<UpstreamRequest> = {}): UpstreamRequest {
  return { method: "GET", path, headers: [["Host", "app.local"]], body: null, ...extra };
}

function target() {
  return { hostname: "127.0.0.1", port: upstream.port! };
}

describe("bodies both ways", () => {
  test("GET with a Content-Length response", async () => {
    const res = await pool.request(target(), get("/"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe("5");
    expect(res.headers.get("set-cookie")).toBe("a=1");
    expect(await res.text()).toBe("hello");
  });

  test("POST with a known length is sent with Content-Length", async () => {
    const body = new Blob(["hello ", "upstream"]).stream();
    const res = await pool.request(target(), { ...get("/echo"), method: "POST", body, contentLength: 14 });
    expect(res.headers.get("x-cl")).toBe("14");
    expect(res.headers.get("x-te")).toBe("");
    expect(await res.text()).toBe("hello upstream");
  });

  test("POST with an unknown length is sent chunked, small and large chunks alike", async () => {
    const large = new Uint8Array(100_000).map((_, i) => i % 256);
    const parts = [new TextEncoder().encode("head:"), large, new Uint8Array(0), new TextEncoder().encode(":tail")];
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = parts.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(next);
      },
    });
    const res = await pool.request(target(), { ...get("/echo"), method: "PUT", body });
    expect(res.headers.get("x-te")).toBe("chunked");
    const echoed = new Uint8Array(await res.arrayBuffer());
    expect(echoed.byteLength).toBe(100_010);
    expect(sha256(echoed.subarray(5, 100_005))).toBe(sha256(large));
  });

  test("a chunked response is decoded and loses its Transfer-Encoding", async () => {
    const res = await pool.request(target(), get("/chunked"));
    expect(res.headers.get("transfer-encoding")).toBeNull();
    expect(await res.text()).toBe("first second third");
  });
});

describe("through a Bun.serve that returns the pool's Response", () => {
  const viaProxy = (path: string) => fetch(`http://127.0.0.1:${proxy.port}${path}`, { decompress: false });

  test("small fixed body", async () => {
    const res = await viaProxy("/");
    expect(await res.text()).toBe("hello");
    expect(res.headers.get("content-type")).toBe("text/plain");
  });

  test("streamed chunked body", async () => {
    expect(await (await viaProxy("/chunked")).text()).toBe("first second third");
  });

  test("8 MiB body arrives byte for byte", async () => {
    const res = await viaProxy("/big");
    expect(sha256(await res.arrayBuffer())).toBe(sha256(bigBody));
  });

  test("gzip bytes pass through untouched, Content-Encoding kept", async () => {
    const res = await viaProxy("/gzip");
    expect(res.headers.get("content-encoding")).toBe("gzip");
    expect(sha256(await res.arrayBuffer())).toBe(sha256(gzipped));
  });

  test("several Set-Cookie fields reach the client as separate fields", async () => {
    const cookies = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data: (socket) =>
          void socket.write(
            "HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2, c=3\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
          ),
      },
    });
    try {
      const res = await viaProxy(`/raw?port=${cookies.port}`);
      expect(res.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2, c=3"]);
      expect(await res.text()).toBe("ok");
    } finally {
      cookies.stop(true);
    }
  });

  test("a client that goes away mid-body takes the upstream socket down with it", async () => {
    let upstreamClosed = false;
    const endless = Bun.listen<{ timer?: Timer }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(socket) {
          socket.write(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
          );
          socket.data = { timer: setInterval(() => socket.write("5\r\nmore!\r\n"), 10) };
        },
        close(socket) {
          upstreamClosed = true;
          clearInterval(socket.data?.timer);
        },
      },
    });
    try {
      const client = new AbortController();
      const res = await fetch(`http://127.0.0.1:${proxy.port}/raw?port=${endless.port}`, { signal: client.signal });
      const reader = res.body!.getReader();
      // The first read may already hold a "more!" chunk too: on a loaded machine 10 ms can pass before it.
      expect(new TextDecoder().decode((await reader.read()).value)).toStartWith("hello");
      client.abort();
      for (let i = 0; i < 200 && !upstreamClosed; i++) await Bun.sleep(10);
      expect(upstreamClosed).toBe(true);
    } finally {
      endless.stop(true);
    }
  });

  test("no Content-Type is invented for an upstream that sent none", async () => {
    const bare = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: { data: (socket) => void socket.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain") },
    });
    try {
      const res = await viaProxy(`/raw?port=${bare.port}`);
      expect(await res.text()).toBe("plain");
      expect(res.headers.get("content-type")).toBeNull();
    } finally {
      bare.stop(true);
    }
  });
});

describe("256 MiB streams in bounded memory", () => {
  test("upload: the body is streamed with backpressure", async () => {
    let counted = "";
    const growth = await peakRssGrowth(async () => {
      const res = await pool.request(target(), {
        ...get("/count"),
        method: "POST",
        body: generated(STREAM_TOTAL_BYTES),
        contentLength: STREAM_TOTAL_BYTES,
      });
      counted = await res.text();
    });
    expect(counted).toBe(String(STREAM_TOTAL_BYTES));
    console.log(`upload RSS growth ${(growth / MIB).toFixed(1)} MiB`);
    expect(growth).toBeLessThan(RSS_GROWTH_LIMIT_BYTES);
  });

  test("download: the socket is paused while the consumer is behind", async () => {
    let received = 0;
    const growth = await peakRssGrowth(async () => {
      const res = await pool.request(target(), get(`/generated?bytes=${STREAM_TOTAL_BYTES}`));
      received = await countBytesSlowly(res.body);
    });
    expect(received).toBe(STREAM_TOTAL_BYTES);
    console.log(`download RSS growth ${(growth / MIB).toFixed(1)} MiB`);
    expect(growth).toBeLessThan(RSS_GROWTH_LIMIT_BYTES);
  });
});
