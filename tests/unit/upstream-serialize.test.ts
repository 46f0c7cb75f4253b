import { describe, expect, test } from "bun:test";
import {
  chunkPrefix,
  encodeHead,
  hostFieldValue,
  joinPrefix,
  lastChunk,
  serializeHead,
} from "../../src/proxy/upstream/serialize.ts";
import type { UpstreamRequest } from "../../src/proxy/upstream/types.ts";

function request(overrides: Partial<UpstreamRequest>): UpstreamRequest {
  return { method: "GET", path: "/", headers: [["Host", "app.local"]], body: null, ...overrides };
}

const emptyBody = () => new ReadableStream<Uint8Array>({ start: (c) => c.close() });

describe("serializeHead", () => {
  test("request line, fields in order, one string", () => {
    const head = serializeHead(
      request({
        path: "/a?b=1",
        headers: [
          ["Host", "app.local"],
          ["Accept", "*/*"],
          ["X-A", "1"],
        ],
      }),
      "ignored",
    );
    expect(head).toBe("GET /a?b=1 HTTP/1.1\r\nHost: app.local\r\nAccept: */*\r\nX-A: 1\r\n\r\n");
  });

  test("adds Host when the caller sent none (RFC 9112 §3.2)", () => {
    expect(serializeHead(request({ headers: [] }), "localhost:3000")).toBe(
      "GET / HTTP/1.1\r\nHost: localhost:3000\r\n\r\n",
    );
  });

  test("replaces the caller's framing fields with our own", () => {
    const headers: [string, string][] = [
      ["host", "a"],
      ["Content-Length", "999"],
      ["transfer-encoding", "gzip"],
    ];
    const known = serializeHead(request({ method: "PUT", headers, body: emptyBody(), contentLength: 3 }), "x");
    expect(known).toBe("PUT / HTTP/1.1\r\nhost: a\r\nContent-Length: 3\r\n\r\n");
    const unknown = serializeHead(request({ method: "POST", headers, body: emptyBody() }), "x");
    expect(unknown).toBe("POST / HTTP/1.1\r\nhost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  });

  test("Content-Length: 0 only for methods that define content (RFC 9110 §8.6)", () => {
    expect(serializeHead(request({ method: "POST" }), "x")).toContain("Content-Length: 0\r\n");
    expect(serializeHead(request({ method: "GET" }), "x")).not.toContain("Content-Length");
    expect(serializeHead(request({ method: "DELETE" }), "x")).not.toContain("Content-Length");
  });

  test.each([
    ["a CRLF in a value", { headers: [["X-A", "1\r\nInjected: yes"]] as [string, string][] }],
    ["a bare LF in a name", { headers: [["X\nA", "1"]] as [string, string][] }],
    ["a space in the request target", { path: "/a b" }],
    ["a CRLF in the method", { method: "GET\r\n" }],
    ["an empty method", { method: "" }],
    ["a length that is not a number", { method: "POST", body: emptyBody(), contentLength: Number.NaN }],
    ["a negative length", { method: "POST", body: emptyBody(), contentLength: -1 }],
    ["a fractional length", { method: "POST", body: emptyBody(), contentLength: 1.5 }],
  ])("refuses %s (no field or request smuggling)", (_name, overrides) => {
    expect(() => serializeHead(request(overrides), "x")).toThrow(TypeError);
  });
});

describe("encoding helpers", () => {
  test("ASCII heads stay strings; obs-text heads become latin1 bytes, one byte per char", () => {
    expect(encodeHead("GET / HTTP/1.1\r\n\r\n")).toBe("GET / HTTP/1.1\r\n\r\n");
    const encoded = encodeHead("X: caf\xe9");
    expect(Buffer.isBuffer(encoded)).toBe(true);
    expect([...(encoded as Buffer)].slice(-2)).toEqual([0x66, 0xe9]);
  });

  test("Host values: brackets for IPv6, no port for 80", () => {
    expect(hostFieldValue("::1", 3000)).toBe("[::1]:3000");
    expect(hostFieldValue("localhost", 80)).toBe("localhost");
  });

  test("chunk framing pieces (RFC 9112 §7.1)", () => {
    expect(chunkPrefix(255, true)).toBe("ff\r\n");
    expect(chunkPrefix(16, false)).toBe("\r\n10\r\n");
    expect(lastChunk(true)).toBe("\r\n0\r\n\r\n");
    expect(lastChunk(false)).toBe("0\r\n\r\n");
    expect(Buffer.from(joinPrefix("3\r\n", Buffer.from("abc"))).toString()).toBe("3\r\nabc");
  });
});
