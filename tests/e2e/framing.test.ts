/**
 * Request framing and fidelity through the compiled binary, with a raw TLS client and a raw upstream that records
 * the bytes it receives: one regenerated framing header per request, ambiguous lengths refused with a 400 that
 * never reaches the upstream, bodies on every method Bun lets through, what of the request-target survives, and
 * what a client that pipelines gets. The Bun.serve limits pinned here are described in CONTRIBUTING.md.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { E2EScope, type Gotunnel, loggedRequest, requireBinary, until } from "../helpers/e2e.ts";
import {
  fieldValues,
  type RawReply,
  type RecordedRequest,
  type RecordingUpstream,
  rawConnection,
  rawExchange,
  requestTarget,
  startRecordingUpstream,
  statuses,
} from "../helpers/raw-http.ts";

const scope = new E2EScope();
let gotunnel: Gotunnel;
let home: string;
let upstream: RecordingUpstream;
let slow: RecordingUpstream;

/** Long enough for a second pipelined request to arrive while the first waits for the upstream. */
const SLOW_UPSTREAM_MS = 300;

beforeAll(async () => {
  requireBinary();
  upstream = startRecordingUpstream();
  slow = startRecordingUpstream({ delayMs: SLOW_UPSTREAM_MS });
  for (const server of [upstream, slow]) scope.defer(server.stop);
  const dir = scope.project({
    "gotunnel.config.json": JSON.stringify({
      routes: {
        "rec.local": `http://127.0.0.1:${upstream.port}`,
        "slow.local": `http://127.0.0.1:${slow.port}`,
      },
    }),
  });
  home = scope.dir("home");
  gotunnel = await scope.up(dir, home);
});

afterAll(() => scope.dispose());

/** One raw HTTPS exchange with route `name`: `lines` are the request line and fields (Host added), then `body`. */
function send(lines: string[], body = "", name = "rec.local"): Promise<RawReply> {
  const [requestLine, ...fields] = lines;
  const head = [requestLine, `Host: ${name}:${gotunnel.httpsPort}`, ...fields].join("\r\n");
  return rawExchange(
    { port: gotunnel.httpsPort, tls: { ca: gotunnel.caPath, servername: name } },
    `${head}\r\n\r\n${body}`,
  );
}

/** The request the upstream recorded for the unique request-target `target`. */
function received(target: string, from = upstream): RecordedRequest | undefined {
  return from.requests.find((request) => requestTarget(request.head) === target);
}

describe("framing", () => {
  test("two identical Content-Length lines reach the upstream as one regenerated Content-Length", async () => {
    const reply = await send(
      ["POST /dup-length HTTP/1.1", "Content-Length: 5", "Content-Length: 5", "Connection: close"],
      "hello",
    );
    const request = received("/dup-length");
    expect(statuses(reply)).toEqual([200]);
    expect(request && fieldValues(request.head, "content-length")).toEqual(["5"]);
    expect(request && fieldValues(request.head, "transfer-encoding")).toEqual([]);
    expect(request?.body).toBe("hello");
  });

  test("a small chunked body is read whole and forwarded with one generated Content-Length and no Transfer-Encoding", async () => {
    // Bodies up to 64 KiB are buffered before they take an upstream socket (proxy/upstream, as nginx does).
    const reply = await send(
      ["POST /chunked HTTP/1.1", "Transfer-Encoding: chunked", "Connection: close"],
      "5\r\nhello\r\n0\r\n\r\n",
    );
    expect(statuses(reply)).toEqual([200]);
    const request = received("/chunked");
    expect(request && fieldValues(request.head, "transfer-encoding")).toEqual([]);
    expect(request && fieldValues(request.head, "content-length")).toEqual(["5"]);
    expect(request?.body).toBe("hello");
  });

  test("a large chunked body is forwarded with one Transfer-Encoding: chunked and no Content-Length", async () => {
    const chunk = "x".repeat(64 * 1024);
    const chunkLine = `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
    const reply = await send(
      ["POST /chunked-large HTTP/1.1", "Transfer-Encoding: chunked", "Connection: close"],
      `${chunkLine}${chunkLine}0\r\n\r\n`,
    );
    expect(statuses(reply)).toEqual([200]);
    const request = received("/chunked-large");
    expect(request && fieldValues(request.head, "transfer-encoding")).toEqual(["chunked"]);
    expect(request && fieldValues(request.head, "content-length")).toEqual([]);
    expect(request?.body.length).toBeGreaterThan(2 * chunk.length);
  });

  const ambiguous: [string, string[], string][] = [
    ["conflicting Content-Length lines", ["Content-Length: 5", "Content-Length: 6"], "hello!"],
    ["a Content-Length list in one line", ["Content-Length: 5, 5"], "hello"],
    ["Content-Length with Transfer-Encoding", ["Content-Length: 5", "Transfer-Encoding: chunked"], "0\r\n\r\n"],
    ["Transfer-Encoding: chunked, identity", ["Transfer-Encoding: chunked, identity"], "0\r\n\r\n"],
    ["Transfer-Encoding: identity", ["Transfer-Encoding: identity"], "hello"],
    ["two Transfer-Encoding lines", ["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"], "0\r\n\r\n"],
    ["a signed Content-Length", ["Content-Length: +5"], "hello"],
    ["a Content-Length that is not a number", ["Content-Length: five"], "hello"],
  ];
  for (const [name, fields, body] of ambiguous) {
    test(`${name}: 400, the connection closes, and the upstream sees nothing`, async () => {
      const target = `/ambiguous-${name.replace(/\W+/g, "-")}`;
      const reply = await send([`POST ${target} HTTP/1.1`, ...fields], body);
      expect(statuses(reply)).toEqual([400]);
      expect(reply.closed).toBe(true);
      expect(received(target)).toBeUndefined();
    });
  }
});

describe("bodies", () => {
  for (const method of ["DELETE", "OPTIONS", "PATCH"]) {
    test(`a ${method} body is forwarded with its length`, async () => {
      const target = `/body-${method.toLowerCase()}`;
      const reply = await send([`${method} ${target} HTTP/1.1`, "Content-Length: 5", "Connection: close"], "hello");
      expect(statuses(reply)).toEqual([200]);
      const request = received(target);
      expect(request && fieldValues(request.head, "content-length")).toEqual(["5"]);
      expect(request?.body).toBe("hello");
    });
  }

  // Bun.serve reads and discards the body of a GET or HEAD before any handler runs (req.body is null): no proxy on
  // Bun.serve can forward it (CONTRIBUTING.md, Bun facts). Pinned: the upstream gets no body and no length that
  // would make it wait for one, and the discarded bytes never turn into a request of their own.
  for (const [method, framing, body] of [
    ["GET", "Content-Length: 22", '{"query":{"match":{}}}'],
    ["GET", "Transfer-Encoding: chunked", "5\r\nhello\r\n0\r\n\r\n"],
    ["HEAD", "Content-Length: 5", "hello"],
  ] as const) {
    test(`a ${method} body (${framing}) is dropped by Bun.serve: no body upstream, the connection stays in step`, async () => {
      const target = `/dropped-${method.toLowerCase()}-${framing.slice(0, 4).toLowerCase()}`;
      const connection = rawConnection(
        { port: gotunnel.httpsPort, tls: { ca: gotunnel.caPath, servername: "rec.local" } },
        `${method} ${target} HTTP/1.1\r\nHost: rec.local\r\n${framing}\r\n\r\n${body}`,
      );
      expect(await until(() => (connection.received().includes("\r\n\r\n") ? true : undefined))).toBe(true);
      connection.write(`GET ${target}-next HTTP/1.1\r\nHost: rec.local\r\nConnection: close\r\n\r\n`);
      const reply = await connection.reply;
      expect(statuses(reply)).toEqual([200, 200]);
      const request = received(target);
      expect(request && fieldValues(request.head, "content-length")).toEqual([]);
      expect(request && fieldValues(request.head, "transfer-encoding")).toEqual([]);
      expect(request?.body).toBe("");
      expect(received(`${target}-next`)).toBeDefined();
    });
  }
});

describe("the request-target", () => {
  // Bun.serve hands the handler a WHATWG-parsed req.url and exposes the raw request-target nowhere (Bun 1.4.5), so
  // gotunnel forwards that URL's path and query. These pins say exactly what survives; if one fails, Bun changed.
  const kept = [
    "/a//b",
    "/a%2Fb/%2f",
    "/%zz/%",
    "/a;b=c/d",
    "/A%2e%2E/.a/..b",
    "/~u/$!*'(),+=:@|",
    "/s?q=a%20b&x=%2e%2e/../&y=\\&a=1&a=2&b",
  ];
  const rewritten: [string, string][] = [
    ["/a/../b", "/b"],
    ["/a/%2e%2e/b", "/b"],
    ["/a/%2E./b", "/b"],
    ["/a/./b", "/a/b"],
    ["/a/..", "/"],
    ["/a\\b", "/a/b"],
    ["/{x}", "/%7Bx%7D"],
    ['/a"b`c^d<e>', "/a%22b%60c%5Ed%3Ce%3E"],
    ["/\xc3\xa9", "/%C3%A9"],
    ["/q?x=\"y\"&z='w'&v=<>", "/q?x=%22y%22&z=%27w%27&v=%3C%3E"],
  ];
  const cases: [string, string][] = [...kept.map((target): [string, string] => [target, target]), ...rewritten];
  for (const [index, [sent, forwarded]] of cases.entries()) {
    const what = sent === forwarded ? "byte for byte" : `as ${forwarded} (Bun.serve normalises it)`;
    test(`${sent} reaches the upstream ${what}`, async () => {
      const reply = await send([`GET ${sent} HTTP/1.1`, `X-Case: ${index}`, "Connection: close"]);
      expect(statuses(reply)).toEqual([200]);
      const request = upstream.requests.find((seen) => fieldValues(seen.head, "x-case")[0] === String(index));
      expect(request && requestTarget(request.head)).toBe(forwarded);
    });
  }

  // The WebSocket bridge opens its upstream socket with the same path and query.
  test("a WebSocket handshake reaches the upstream with the same path and query", async () => {
    const upgrade = ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13"];
    const key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
    const connection = rawConnection(
      { port: gotunnel.httpsPort, tls: { ca: gotunnel.caPath, servername: "rec.local" } },
      ["GET /ws//a%2Fb/../c?x=%2e%2e HTTP/1.1", "Host: rec.local", ...upgrade, key, "X-Case: ws", "", ""].join("\r\n"),
    );
    // The recording upstream answers 200, not 101, so no socket opens: only the recorded handshake matters here.
    const recorded = () => upstream.requests.find((seen) => fieldValues(seen.head, "x-case")[0] === "ws");
    const handshake = await until(recorded);
    connection.close();
    expect(handshake && requestTarget(handshake.head)).toBe("/ws//c?x=%2e%2e");
    expect(handshake && fieldValues(handshake.head, "upgrade")).toEqual(["websocket"]);
  });
});

describe("pipelining", () => {
  const slowTarget = () => ({ port: gotunnel.httpsPort, tls: { ca: gotunnel.caPath, servername: "slow.local" } });
  const get = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: slow.local\r\n${extra}\r\n`;

  // Bun.serve closes a connection when a request arrives while an async response is pending (oven-sh/bun#38128):
  // the client gets no answer at all, but at once and cleanly, so it can retry without pipelining.
  test("two requests in one write: no answer, then a clean close (never a hang), logged as 499", async () => {
    const reply = await rawExchange(slowTarget(), get("/pipe-1") + get("/pipe-2"));
    expect(reply).toEqual({ text: "", closed: true });
    expect(received("/pipe-2", slow)).toBeUndefined();
    // The first request lost its connection: the log says so (499), not that the upstream failed (502).
    expect(await loggedRequest(home, "/pipe-1")).toEqual(expect.objectContaining({ status: 499 }));
  });

  test("when the first asks to close, it is answered and the connection closes; the second is never sent", async () => {
    const reply = await rawExchange(slowTarget(), get("/pipe-close-1", "Connection: close\r\n") + get("/pipe-close-2"));
    expect(statuses(reply)).toEqual([200]);
    expect(reply.closed).toBe(true);
    expect(received("/pipe-close-2", slow)).toBeUndefined();
  });

  test("gotunnel's own pages are answered at once, so pipelined requests for them all get an answer", async () => {
    const request = (path: string) => `GET ${path} HTTP/1.1\r\nHost: nowhere.local\r\n\r\n`;
    const reply = await rawExchange(
      { port: gotunnel.httpPort },
      request("/one") + request("/two") + request("/three").replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n"),
    );
    expect(statuses(reply)).toEqual([404, 404, 404]);
  });
});
