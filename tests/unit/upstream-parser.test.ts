import { describe, expect, test } from "bun:test";
import { isUpstreamError } from "../../src/proxy/upstream/errors.ts";
import { NO_CONTENT_LENGTH, parseHead, ResponseHead, scanHead } from "../../src/proxy/upstream/parser.ts";

/** Scans and parses a complete head given as one buffer; returns the head and the index past it. */
function parse(text: string, head = new ResponseHead()): { head: ResponseHead; end: number } {
  const buf = Buffer.from(text, "latin1");
  head.beginScan(0);
  const end = scanHead(buf, buf.length, head);
  if (end < 0) throw new Error("head incomplete");
  parseHead(buf, 0, head);
  return { head, end };
}

function protocolFailure(text: string): string {
  try {
    parse(text);
  } catch (err) {
    if (isUpstreamError(err)) return err.kind;
    throw err;
  }
  throw new Error("parsed without error");
}

describe("scanHead", () => {
  test("finds the end of the head and leaves the body alone", () => {
    const { end } = parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    expect(end).toBe(38);
  });

  test("resumes across arbitrary split points, one byte at a time", () => {
    const text = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\nbody";
    const buf = Buffer.from(text, "latin1");
    const head = new ResponseHead();
    head.beginScan(0);
    let end = -1;
    for (let available = 1; available <= buf.length && end < 0; available++) end = scanHead(buf, available, head);
    expect(end).toBe(text.indexOf("body"));
    parseHead(buf, 0, head);
    expect(head.headers.get("b")).toBe("2");
  });

  test("accepts bare LF line endings (RFC 9112 §2.2)", () => {
    const { head, end } = parse("HTTP/1.1 204 No Content\nX-A: 1\n\n");
    expect(head.status).toBe(204);
    expect(head.headers.get("x-a")).toBe("1");
    expect(end).toBe(32);
  });

  test("reports an incomplete head", () => {
    const buf = Buffer.from("HTTP/1.1 200 OK\r\nA: 1\r\n\r", "latin1");
    const head = new ResponseHead();
    head.beginScan(0);
    expect(scanHead(buf, buf.length, head)).toBe(-1);
  });
});

describe("parseHead", () => {
  test("status line, reason phrase and HTTP version", () => {
    const { head } = parse("HTTP/1.0 404 Not Found Here\r\n\r\n");
    expect(head.status).toBe(404);
    expect(head.statusText).toBe("Not Found Here");
    expect(head.minorVersion).toBe(0);
    expect(head.persistent).toBe(false);
  });

  test("tolerates a missing reason phrase", () => {
    expect(parse("HTTP/1.1 200\r\n\r\n").head.statusText).toBe("");
    expect(parse("HTTP/1.1 200 \r\n\r\n").head.statusText).toBe("");
  });

  test("keeps duplicate fields, every Set-Cookie separately", () => {
    const { head } = parse(
      "HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/\r\nset-cookie: b=2\r\nVary: A\r\nVary: B\r\n\r\n",
    );
    expect(head.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2"]);
    expect(head.headers.get("vary")).toBe("A, B");
  });

  test("trims optional whitespace around values and keeps obs-text bytes as latin1", () => {
    const { head } = parse("HTTP/1.1 200 OK\r\nX-Name:  caf\xe9 \t\r\n\r\n");
    expect(head.headers.get("x-name")).toBe("caf\xe9");
  });

  test("drops hop-by-hop fields (RFC 9110 §7.6.1), and the fields Connection names, keeping the rest", () => {
    const { head } = parse(
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nTE: trailers\r\n" +
        'Trailer: Expires\r\nUpgrade: h2c\r\nProxy-Connection: close\r\nETag: "v1"\r\nContent-Length: 0\r\n\r\n',
    );
    expect([...head.headers.keys()]).toEqual(["content-length", "etag"]);
    expect(head.connectionKeepAlive).toBe(true);
  });

  test("interprets framing fields and does not forward Transfer-Encoding", () => {
    const { head } = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\nContent-Type: text/plain\r\n\r\n");
    expect(head.hasTransferEncoding).toBe(true);
    expect(head.chunked).toBe(true);
    expect(head.hasContentType).toBe(true);
    expect(head.headers.has("transfer-encoding")).toBe(false);
  });

  test("a final coding other than chunked is not chunked", () => {
    const { head } = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
    expect(head.hasTransferEncoding).toBe(true);
    expect(head.chunked).toBe(false);
  });

  test("Content-Length: identical repeats are fine, conflicts are fatal (RFC 9112 §6.3)", () => {
    expect(parse("HTTP/1.1 200 OK\r\nContent-Length: 42, 42\r\nContent-Length: 42\r\n\r\n").head.contentLength).toBe(
      42,
    );
    expect(parse("HTTP/1.1 200 OK\r\n\r\n").head.contentLength).toBe(NO_CONTENT_LENGTH);
    expect(protocolFailure("HTTP/1.1 200 OK\r\nContent-Length: 42, 43\r\n\r\n")).toBe("protocol");
    expect(protocolFailure("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")).toBe("protocol");
    expect(protocolFailure("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")).toBe("protocol");
    expect(protocolFailure("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n")).toBe("protocol");
  });

  test("Connection options decide persistence (RFC 9112 §9.3)", () => {
    expect(parse("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\n\r\n").head.persistent).toBe(false);
    expect(parse("HTTP/1.1 200 OK\r\nConnection: upgrade\r\n\r\n").head.persistent).toBe(true);
    expect(parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n").head.persistent).toBe(true);
  });

  test("a reused ResponseHead forgets the previous response", () => {
    const head = new ResponseHead();
    parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\nContent-Type: a/b\r\n\r\n", head);
    parse("HTTP/1.1 204 No Content\r\n\r\n", head);
    expect(head.contentLength).toBe(NO_CONTENT_LENGTH);
    expect(head.connectionClose).toBe(false);
    expect(head.hasContentType).toBe(false);
    expect([...head.headers]).toEqual([]);
  });

  test.each([
    ["not HTTP", "ICY 200 OK\r\n\r\n"],
    ["lowercase HTTP-name", "http/1.1 200 OK\r\n\r\n"],
    ["short status code", "HTTP/1.1 20 OK\r\n\r\n"],
    ["status code with letters", "HTTP/1.1 2x0 OK\r\n\r\n"],
    ["obs-fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n continued\r\n\r\n"],
    ["whitespace before colon", "HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n"],
    ["field without colon", "HTTP/1.1 200 OK\r\nX-A\r\n\r\n"],
    ["empty field name", "HTTP/1.1 200 OK\r\n: 1\r\n\r\n"],
    ["invalid name token", "HTTP/1.1 200 OK\r\nX(A): 1\r\n\r\n"],
  ])("rejects %s as a protocol error", (_name, text) => {
    expect(protocolFailure(text)).toBe("protocol");
  });

  test("rejects an empty line where the status line should be", () => {
    expect(protocolFailure("\r\nHTTP/1.1 200 OK\r\n\r\n")).toBe("protocol");
  });
});
