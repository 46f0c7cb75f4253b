/**
 * The OTLP exporters' POST on real loopback sockets: plain-HTTP collectors get batches over one kept-alive
 * connection with the configured headers, a collector that drops an idle connection loses no batch, and failures
 * name the collector rather than an upstream dev server.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { createPost } from "../../src/telemetry/otlp-post.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function post(url: string) {
  const poster = createPost(url);
  cleanups.push(() => poster.close());
  return poster;
}

interface Received {
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
  /** The client's port: the same port means the same connection. */
  clientPort: number;
}

function collector(status = 200) {
  const received: Received[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req, srv) {
      received.push({
        path: new URL(req.url).pathname + new URL(req.url).search,
        headers: Object.fromEntries(req.headers),
        body: new Uint8Array(await req.arrayBuffer()),
        clientPort: srv.requestIP(req)?.port ?? 0,
      });
      return new Response("{}", { status, headers: { "content-type": "application/json" } });
    },
  });
  cleanups.push(() => server.stop(true));
  return { url: `http://127.0.0.1:${server.port}`, received };
}

describe("OTLP POST to a plain-HTTP collector", () => {
  test("batches go over one kept-alive connection, bytes and headers intact", async () => {
    const { url, received } = collector();
    const poster = post(`${url}/v1/traces?tenant=a`);
    const big = new Uint8Array(300_000).map((_, i) => i % 251);
    const headers = { "content-type": "application/x-protobuf", Authorization: "Bearer s3cret" };
    expect(await poster.send(big, headers, 5_000)).toBe(200);
    expect(await poster.send(new Uint8Array([1, 2, 3]), headers, 5_000)).toBe(200);
    expect(await poster.send('{"resourceMetrics":[]}', { "content-type": "application/json" }, 5_000)).toBe(200);
    expect(received).toHaveLength(3);
    expect(received[0]!.path).toBe("/v1/traces?tenant=a");
    expect(received[0]!.body).toEqual(big);
    expect(received[0]!.headers).toMatchObject({
      "content-type": "application/x-protobuf",
      authorization: "Bearer s3cret",
      "content-length": "300000",
    });
    expect(new TextDecoder().decode(received[2]!.body)).toBe('{"resourceMetrics":[]}');
    expect(new Set(received.map((r) => r.clientPort)).size).toBe(1);
  });

  test("the collector's status comes back as it is; the connection stays usable after an error status", async () => {
    const { url, received } = collector(503);
    const poster = post(`${url}/v1/traces`);
    expect(await poster.send(new Uint8Array([1]), {}, 5_000)).toBe(503);
    expect(await poster.send(new Uint8Array([2]), {}, 5_000)).toBe(503);
    expect(received).toHaveLength(2);
  });

  test("a collector that closes the kept-alive connection under a batch gets it again on a fresh one", async () => {
    // Each connection answers its first request and drops the second unanswered: what a collector's idle timeout
    // does to a request that raced it.
    const bodies: string[] = [];
    const listener = Bun.listen<{ served: number; buffer: string }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(socket) {
          socket.data = { served: 0, buffer: "" };
        },
        data(socket: Socket<{ served: number; buffer: string }>, chunk) {
          const state = socket.data;
          state.buffer += chunk.toString("latin1");
          const end = state.buffer.indexOf("\r\n\r\n");
          if (end === -1) return;
          const length = Number(/content-length: (\d+)/i.exec(state.buffer)?.[1] ?? 0);
          if (state.buffer.length < end + 4 + length) return;
          const body = state.buffer.slice(end + 4, end + 4 + length);
          state.buffer = "";
          if (state.served++ === 1) {
            socket.end();
            return;
          }
          bodies.push(body);
          socket.write("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        },
      },
    });
    cleanups.push(() => listener.stop(true));
    const poster = post(`http://127.0.0.1:${listener.port}/v1/traces`);
    const encoder = new TextEncoder();
    expect(await poster.send(encoder.encode("first"), {}, 5_000)).toBe(200);
    expect(await poster.send(encoder.encode("second"), {}, 5_000)).toBe(200);
    expect(bodies).toEqual(["first", "second"]);
  });

  test("no collector listening: the error says so", async () => {
    const free = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = free.port;
    free.stop(true);
    const poster = post(`http://127.0.0.1:${port}/v1/traces`);
    await expect(poster.send(new Uint8Array([1]), {}, 5_000)).rejects.toThrow(
      "connection refused: is the collector running?",
    );
  });

  test("a collector that never answers runs into the export timeout", async () => {
    const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    cleanups.push(() => listener.stop(true));
    const poster = post(`http://127.0.0.1:${listener.port}/v1/traces`);
    await expect(poster.send(new Uint8Array([1]), {}, 200)).rejects.toThrow(/timed out|timeout/i);
  });
});
