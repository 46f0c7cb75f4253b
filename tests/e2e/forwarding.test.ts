/**
 * Forwarding correctness through the compiled binary: what the upstream receives (Host, X-Forwarded-*, no hop-by-hop
 * headers), what the client receives (status, headers and bytes exactly as the upstream sent them, minus hop-by-hop),
 * the HTTP listener (308 to HTTPS, `https: false` routes), and `localhost` targets on 127.0.0.1 or ::1 only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { curl, E2EScope, type Gotunnel, headerValues, requireBinary } from "../helpers/e2e.ts";
import {
  GZIP_BODY,
  GZIP_PLAIN,
  type SeenRequest,
  startEchoUpstream,
  startRawUpstream,
  type Upstream,
} from "../helpers/upstreams.ts";

const scope = new E2EScope();
let gotunnel: Gotunnel;
let echo: Upstream & { seen: SeenRequest[] };
let raw: Upstream & { heads: string[] };
let closeDelimited: Upstream;
let earlyHints: Upstream;
let sized: Upstream;
let v6: Upstream;
let v4: Upstream;

/** An upstream response carrying hop-by-hop headers (RFC 9110 §7.6.1) that must not reach the client. */
const RAW_RESPONSE = [
  "HTTP/1.1 200 OK",
  "Content-Type: text/plain",
  "Content-Length: 5",
  "Connection: close, X-Bar",
  "X-Bar: connection-specific",
  "Keep-Alive: timeout=5, max=100",
  "Proxy-Connection: keep-alive",
  "X-Kept: end-to-end",
  "",
  "hello",
].join("\r\n");

/** No Content-Length, no chunking: the body ends when the upstream closes (RFC 9112 §6.3, rule 8). */
const CLOSE_DELIMITED_RESPONSE = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil close";
/** A 103 informational response before the final one (RFC 8297): the final response is what counts. */
const EARLY_HINTS_RESPONSE = [
  "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nfinal",
].join("");

/** A body too large to be buffered in one read: its Content-Length tells browsers the download size. */
const SIZED_BODY_BYTES = 200_000;
const SIZED_RESPONSE = `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${SIZED_BODY_BYTES}\r\nConnection: close\r\n\r\n${"x".repeat(SIZED_BODY_BYTES)}`;

beforeAll(async () => {
  requireBinary();
  echo = startEchoUpstream();
  raw = startRawUpstream(RAW_RESPONSE);
  closeDelimited = startRawUpstream(CLOSE_DELIMITED_RESPONSE);
  earlyHints = startRawUpstream(EARLY_HINTS_RESPONSE);
  sized = startRawUpstream(SIZED_RESPONSE);
  v6 = startEchoUpstream("::1");
  v4 = startEchoUpstream("127.0.0.1");
  for (const upstream of [echo, raw, closeDelimited, earlyHints, sized, v6, v4]) scope.defer(upstream.stop);
  const dir = scope.project({
    "gotunnel.config.json": JSON.stringify({
      routes: {
        "myapp.local": echo.port,
        "plain.local": { target: echo.port, https: false },
        "raw.local": `http://127.0.0.1:${raw.port}`,
        "close-delimited.local": `http://127.0.0.1:${closeDelimited.port}`,
        "early-hints.local": `http://127.0.0.1:${earlyHints.port}`,
        "sized.local": `http://127.0.0.1:${sized.port}`,
        "v6.local": `localhost:${v6.port}`,
        "v4.local": `localhost:${v4.port}`,
      },
    }),
  });
  gotunnel = await scope.up(dir, scope.dir("home"));
});

afterAll(() => scope.dispose());

const https = (name: string, path: string) => `https://${name}:${gotunnel.httpsPort}${path}`;
const get = (name: string, path: string, args: string[] = []) => curl(https(name, path), { ca: gotunnel.caPath, args });

/** The upstream's JSON echo of the request it received. */
function echoed(response: { status: number; stdout: string }): SeenRequest {
  expect(response.status).toBe(200);
  return JSON.parse(response.stdout) as SeenRequest;
}

function header(seen: SeenRequest, name: string): string[] {
  return seen.headers.filter(([key]) => key === name).map(([, value]) => value);
}

describe("what the upstream receives", () => {
  test("Host is preserved and X-Forwarded-For/Proto/Host/Port are set", async () => {
    const seen = echoed(await get("myapp.local", "/headers"));
    const host = `myapp.local:${gotunnel.httpsPort}`;
    expect(header(seen, "host")).toEqual([host]);
    expect(header(seen, "x-forwarded-for")).toEqual(["127.0.0.1"]);
    expect(header(seen, "x-forwarded-proto")).toEqual(["https"]);
    expect(header(seen, "x-forwarded-host")).toEqual([host]);
    expect(header(seen, "x-forwarded-port")).toEqual([String(gotunnel.httpsPort)]);
  });

  test("client-sent X-Forwarded-For is extended; client-sent X-Forwarded-Proto/Host/Port are replaced", async () => {
    const spoofed = ["X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: gopher", "X-Forwarded-Host: evil.example"];
    const seen = echoed(
      await get(
        "myapp.local",
        "/xff",
        spoofed.flatMap((h) => ["-H", h]),
      ),
    );
    expect(header(seen, "x-forwarded-for")).toEqual(["203.0.113.7, 127.0.0.1"]);
    expect(header(seen, "x-forwarded-proto")).toEqual(["https"]);
    expect(header(seen, "x-forwarded-host")).toEqual([`myapp.local:${gotunnel.httpsPort}`]);
  });

  test("hop-by-hop request headers (Connection and what it names, Keep-Alive, TE) do not reach the upstream", async () => {
    const sent = ["Connection: X-Foo", "X-Foo: 1", "Keep-Alive: timeout=5", "TE: trailers", "X-Kept: yes"];
    const seen = echoed(await get("myapp.local", "/hop", ["--http1.1", ...sent.flatMap((h) => ["-H", h])]));
    const names = seen.headers.map(([name]) => name);
    expect(names).not.toContain("x-foo");
    expect(names).not.toContain("keep-alive");
    expect(names).not.toContain("te");
    for (const value of header(seen, "connection")) expect(value.toLowerCase()).not.toContain("x-foo");
    expect(header(seen, "x-kept")).toEqual(["yes"]);
  });

  test("the query string arrives byte for byte", async () => {
    const path = "/search?q=a%20b&x=1&x=2&empty=&plus=a+b&utf=%C3%A9";
    expect(echoed(await get("myapp.local", path)).path).toBe(path);
  });

  test("an unnormalized path (`//`, `%2F`, `%2e`) arrives as the client sent it", async () => {
    const path = "/a//b/%2F/c%2e?next=%2Fhome";
    expect(echoed(await get("myapp.local", path, ["--path-as-is"])).path).toBe(path);
  });

  test("a POST body is echoed back", async () => {
    const seen = echoed(await get("myapp.local", "/submit", ["--data-binary", "hello=world&x=1"]));
    expect(seen.method).toBe("POST");
    expect(seen.body).toBe("hello=world&x=1");
    expect(header(seen, "content-length")).toEqual(["15"]);
  });
});

describe("what the client receives", () => {
  test("upstream hop-by-hop response headers are removed; end-to-end ones and the body are kept", async () => {
    const response = await get("raw.local", "/", ["--http1.1"]);
    expect(response.status).toBe(200);
    expect(response.stdout).toBe("hello");
    const names = response.headers.map(([name]) => name);
    expect(names).not.toContain("x-bar");
    expect(names).not.toContain("keep-alive");
    expect(names).not.toContain("proxy-connection");
    for (const value of headerValues(response, "connection")) expect(value.toLowerCase()).not.toContain("x-bar");
    expect(headerValues(response, "x-kept")).toEqual(["end-to-end"]);
    expect(raw.heads.at(-1)).toStartWith("GET / HTTP/1.1\r\n");
  });

  test("a client's `Connection: close` is answered with `Connection: close`", async () => {
    const response = await get("myapp.local", "/text", ["--http1.1", "-H", "Connection: close"]);
    expect(response.stdout).toBe("hello from upstream");
    expect(headerValues(response, "connection")).toEqual(["close"]);
  });

  test("a gzip body passes through byte-identical with Content-Encoding kept (no decompression)", async () => {
    const response = await get("myapp.local", "/gzip", ["--raw", "-H", "Accept-Encoding: gzip"]);
    expect(response.status).toBe(200);
    expect(headerValues(response, "content-encoding")).toEqual(["gzip"]);
    expect(Buffer.from(response.body).equals(Buffer.from(GZIP_BODY))).toBe(true);
    expect(new TextDecoder().decode(Bun.gunzipSync(response.body))).toBe(GZIP_PLAIN);
  });

  test("a 302 is passed through with its Location, not followed", async () => {
    const before = echo.seen.length;
    const response = await get("myapp.local", "/redirect");
    expect(response.status).toBe(302);
    expect(headerValues(response, "location")).toEqual(["/elsewhere"]);
    expect(echo.seen.slice(before).map((seen) => seen.path)).toEqual(["/redirect"]);
  });

  test("two Set-Cookie headers both arrive, as two lines", async () => {
    const response = await get("myapp.local", "/cookies");
    expect(response.status).toBe(200);
    expect(headerValues(response, "set-cookie")).toEqual(["a=1; Path=/", "b=2; Path=/; HttpOnly"]);
  });

  test("HEAD gets the headers and no body, and the upstream saw a HEAD", async () => {
    const before = echo.seen.length;
    const response = await get("myapp.local", "/head-check", ["--head"]);
    expect(response.exitCode).toBe(0);
    expect(response.status).toBe(200);
    expect(echo.seen.slice(before).map((seen) => seen.method)).toEqual(["HEAD"]);
  });

  test("a 204 has no body, and the next request on the same connection still works", async () => {
    const writeOut = ["-w", "[%{http_code} connects=%{num_connects}]"];
    // curl fetches the URLs in order: the one in args (the 204) first, then /text.
    const response = await get("myapp.local", "/text", ["--http1.1", ...writeOut, https("myapp.local", "/status/204")]);
    expect(response.exitCode).toBe(0);
    // One connection for both: the 204 was framed correctly (no body expected, none sent).
    expect(response.stdout).toBe("[204 connects=1]hello from upstream[200 connects=0]");
    expect(echo.seen.slice(-2).map((seen) => seen.path)).toEqual(["/status/204", "/text"]);
  });
});

describe("response framing from the upstream", () => {
  test("a close-delimited body (no Content-Length, no chunking) arrives whole", async () => {
    const response = await get("close-delimited.local", "/");
    expect(response.status).toBe(200);
    expect(response.stdout).toBe("until close");
  });

  test("a 103 Early Hints before the 200 does not replace the final response", async () => {
    const response = await get("early-hints.local", "/");
    expect(response.status).toBe(200);
    expect(response.stdout).toBe("final");
  });
});

describe("response length", () => {
  test("a 200 kB Content-Length body arrives whole", async () => {
    const response = await get("sized.local", "/", ["--http1.1"]);
    expect(response.status).toBe(200);
    expect(response.body.byteLength).toBe(SIZED_BODY_BYTES);
  });

  // Bun limitation, not gotunnel code: Bun.serve drops a handler-set Content-Length when the body is a
  // ReadableStream and frames it chunked (oven-sh/bun#10507, open in 1.4.5; a plain Bun.serve shows the same).
  // Browsers then show no download size, and 206 range responses for media lose their length too.
  test.todo("a large upstream body keeps its Content-Length instead of being re-framed as chunked", async () => {
    const response = await get("sized.local", "/", ["--http1.1"]);
    expect(headerValues(response, "content-length")).toEqual([String(SIZED_BODY_BYTES)]);
    expect(headerValues(response, "transfer-encoding")).toEqual([]);
  });
});

describe("HTTP listener", () => {
  test("an https route is redirected with 308 to the same host, HTTPS port, path and query", async () => {
    const response = await curl(`http://myapp.local:${gotunnel.httpPort}/some/path?x=1&y=%20`);
    expect(response.status).toBe(308);
    expect(headerValues(response, "location")).toEqual([
      `https://myapp.local:${gotunnel.httpsPort}/some/path?x=1&y=%20`,
    ]);
  });

  test("a POST to an https route is redirected with 308 too (method and body kept by the client)", async () => {
    const response = await curl(`http://myapp.local:${gotunnel.httpPort}/form`, { args: ["--data-binary", "a=1"] });
    expect(response.status).toBe(308);
  });

  test("a route with `https: false` is served over plain HTTP with X-Forwarded-Proto http", async () => {
    const response = await curl(`http://plain.local:${gotunnel.httpPort}/plain?z=9`);
    const seen = echoed(response);
    expect(seen.path).toBe("/plain?z=9");
    expect(header(seen, "host")).toEqual([`plain.local:${gotunnel.httpPort}`]);
    expect(header(seen, "x-forwarded-proto")).toEqual(["http"]);
    expect(header(seen, "x-forwarded-port")).toEqual([String(gotunnel.httpPort)]);
  });
});

describe("localhost targets", () => {
  test("an upstream listening on ::1 only is reached through target localhost:<port>", async () => {
    const response = await get("v6.local", "/text");
    expect(response.status).toBe(200);
    expect(headerValues(response, "x-upstream")).toEqual(["::1"]);
  });

  test("an upstream listening on 127.0.0.1 only is reached through target localhost:<port>", async () => {
    const response = await get("v4.local", "/text");
    expect(response.status).toBe(200);
    expect(headerValues(response, "x-upstream")).toEqual(["127.0.0.1"]);
  });
});
