/**
 * ProxyServer on real loopback sockets with real certificates from a throwaway CA: curl (--cacert, --resolve) and
 * openssl s_client as clients, an echo dev server as the upstream. Ephemeral ports only; everything is stopped and
 * the temp dir removed afterwards, also when a test fails.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { fetchUpstream } from "../../src/proxy/fetch-upstream.ts";
import type { ProxyRoute } from "../../src/proxy/router.ts";
import { ProxyServer, type RequestEvent, type TlsEntry } from "../../src/proxy/server.ts";
import {
  assertPortFree,
  createTestCA,
  curl,
  type Echo,
  entryCert,
  freePort,
  rawHttp,
  route,
  servedCert,
  startEchoUpstream,
  statusAndBody,
  type TestCA,
} from "../helpers/proxy.ts";

let testCA: TestCA;
let echo: Server<undefined>;
let deadPort: number;
let proxy: ProxyServer;
let entries: TlsEntry[];
let routes: ProxyRoute[];
const events: RequestEvent[] = [];
let https: number;
let http: number;

beforeAll(async () => {
  testCA = await createTestCA();
  echo = startEchoUpstream();
  deadPort = freePort();
  const echoPort = echo.port!;
  routes = [
    route("a.local", echoPort),
    route("b.local", echoPort, { preserveHost: false, headers: { "x-route": "b" } }),
    route("*.w.local", echoPort),
    route("plain.local", echoPort, { https: false }),
    route("dead.local", deadPort),
  ];
  entries = await testCA.entriesFor(routes);
  proxy = await ProxyServer.listen({
    host: "127.0.0.1",
    httpsPort: 0,
    httpPort: 0,
    routes,
    tls: entries,
    upstream: fetchUpstream,
    onRequest: (event) => events.push(event),
  });
  ({ https, http } = proxy.ports);
});

afterAll(async () => {
  await proxy?.stop(true);
  await echo?.stop(true);
  testCA?.cleanup();
});

async function echoed(result: Awaited<ReturnType<typeof curl>>): Promise<Echo> {
  const { status, body } = statusAndBody(result);
  expect(result.stderr).toBe("");
  expect(status).toBe(200);
  return JSON.parse(body) as Echo;
}

function header(echo: Echo, name: string): string[] {
  return echo.headers.filter(([key]) => key === name).map(([, value]) => value);
}

describe("TLS", () => {
  test("each route's SNI name gets its own certificate, verified against the CA", async () => {
    expect(await servedCert(https, "a.local", testCA.caPath)).toBe(entryCert(entries, "a.local"));
    expect(await servedCert(https, "b.local", testCA.caPath)).toBe(entryCert(entries, "b.local"));
    expect(entryCert(entries, "a.local")).not.toBe(entryCert(entries, "b.local"));
  });

  test("a wildcard route's certificate covers its subdomains and its bare name", async () => {
    const wildcard = entryCert(entries, "*.w.local");
    expect(await servedCert(https, "x.w.local", testCA.caPath)).toBe(wildcard);
    expect(await servedCert(https, "w.local", testCA.caPath)).toBe(wildcard);
  });

  test("an unknown name gets the default (localhost) certificate and a 404 listing the routes", async () => {
    expect(entries[0]?.serverName).toBe("localhost");
    expect(await servedCert(https, "unknown.local", testCA.caPath)).toBe(entryCert(entries, "localhost"));
    const result = await curl("https", "unknown.local", https, "/", ["--insecure"]);
    const { status, body } = statusAndBody(result);
    expect(status).toBe(404);
    expect(body).toContain('No gotunnel route for "unknown.local:');
    expect(body).toContain(`https://a.local:${https} → ${routes[0]!.target.origin}`);
    expect(body).toContain(`http://plain.local:${http} → `);
  });

  test("without our CA, curl refuses the certificate (exit 60)", async () => {
    expect((await curl("https", "a.local", https)).exitCode).toBe(60);
  });
});

describe("forwarding over HTTPS", () => {
  test("curl --cacert reaches the upstream with path, query, method, body and forwarded headers", async () => {
    const result = await curl("https", "a.local", https, "/x/y?z=1&w=%20", [
      "--cacert",
      testCA.caPath,
      "--data-binary",
      "hello",
      "-H",
      "x-forwarded-for: 203.0.113.9",
    ]);
    const seen = await echoed(result);
    expect([seen.method, seen.path, seen.body]).toEqual(["POST", "/x/y?z=1&w=%20", "hello"]);
    expect(header(seen, "host")).toEqual([`a.local:${https}`]);
    expect(header(seen, "x-forwarded-proto")).toEqual(["https"]);
    expect(header(seen, "x-forwarded-host")).toEqual([`a.local:${https}`]);
    expect(header(seen, "x-forwarded-port")).toEqual([String(https)]);
    expect(header(seen, "x-forwarded-for")).toEqual(["203.0.113.9, 127.0.0.1"]);
    expect(header(seen, "via")[0]).toMatch(/^1\.1 gotunnel-[0-9a-f]{8}$/);
  });

  test("preserveHost: false sends the target's host; route headers arrive", async () => {
    const seen = await echoed(await curl("https", "b.local", https, "/", ["--cacert", testCA.caPath]));
    expect(header(seen, "host")).toEqual([`127.0.0.1:${echo.port}`]);
    expect(header(seen, "x-route")).toEqual(["b"]);
  });

  test("a wildcard route serves a subdomain end to end", async () => {
    const seen = await echoed(await curl("https", "deep.x.w.local", https, "/w", ["--insecure"]));
    expect(header(seen, "host")).toEqual([`deep.x.w.local:${https}`]);
  });

  test("a dead upstream is a 502 naming the route and its port", async () => {
    const { status, body } = statusAndBody(await curl("https", "dead.local", https, "/", ["--cacert", testCA.caPath]));
    expect(status).toBe(502);
    expect(body).toContain(`dead.local: the upstream http://127.0.0.1:${deadPort} is not answering`);
    expect(body).toContain("(connection refused)");
  });
});

describe("the HTTP listener", () => {
  test("redirects an HTTPS route with 308 to the same path and query on the HTTPS port", async () => {
    const result = await curl("http", "a.local", http, "/login?next=%2F", ["--output", "/dev/null", "-D", "-"]);
    expect(result.stdout).toMatch(/^HTTP\/1\.1 308/);
    expect(result.stdout.toLowerCase()).toContain(`\r\nlocation: https://a.local:${https}/login?next=%2f\r\n`);
  });

  test("serves an `https: false` route over plain HTTP, with X-Forwarded-Proto http", async () => {
    const seen = await echoed(await curl("http", "plain.local", http, "/p?q=1"));
    expect(seen.path).toBe("/p?q=1");
    expect(header(seen, "x-forwarded-proto")).toEqual(["http"]);
    expect(header(seen, "x-forwarded-port")).toEqual([String(http)]);
  });

  test("answers `Connection: close` on its own pages when the client asked, then closes", async () => {
    const head = (host: string) => `GET /p HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
    for (const [host, status] of [
      ["nope.local", "404"],
      ["a.local", "308"],
      ["plain.local", "200"],
    ] as const) {
      const { text, closed } = await rawHttp(http, head(host));
      expect(text).toStartWith(`HTTP/1.1 ${status}`);
      expect(text.toLowerCase()).toContain("\r\nconnection: close\r\n");
      expect(closed).toBe(true);
    }
  });

  test("a Host that Bun cannot parse as an authority still forwards the whole path", async () => {
    const { text } = await rawHttp(http, "GET /p/q?x=1 HTTP/1.1\r\nHost: plain.local:<x>\r\nConnection: close\r\n\r\n");
    const seen = JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4)) as Echo;
    expect(seen.path).toBe("/p/q?x=1");
  });

  test("a hostile Host header is escaped in the HTML 404", async () => {
    const hostile = `"><script>alert(1)</script>`;
    const { text } = await rawHttp(
      http,
      `GET / HTTP/1.1\r\nHost: ${hostile}\r\nAccept: text/html\r\nConnection: close\r\n\r\n`,
    );
    expect(text).toStartWith("HTTP/1.1 404");
    expect(text).not.toContain("<script>");
    expect(text).toContain("&#60;script&#62;alert(1)&#60;/script&#62;");
  });

  test("a route that points back at the proxy is answered with 508, not an endless loop", async () => {
    const loop = route("loop.local", http, { https: false });
    await proxy.update([...routes, loop], undefined);
    try {
      const { status, body } = statusAndBody(await curl("http", "loop.local", http, "/"));
      expect(status).toBe(508);
      expect(body).toContain("loop.local: request loop detected");
    } finally {
      await proxy.update(routes, undefined);
    }
  });
});

describe("onRequest", () => {
  test("reports method, host, path, status, route and the upstream error of a 502", async () => {
    events.length = 0;
    await curl("https", "a.local", https, "/evt?1", ["--cacert", testCA.caPath]);
    await curl("https", "dead.local", https, "/down", ["--cacert", testCA.caPath]);
    await curl("https", "nobody.local", https, "/none", ["--insecure"]);
    const ok = events.find((event) => event.path === "/evt?1");
    expect(ok).toMatchObject({ method: "GET", host: `a.local:${https}`, status: 200, route: "a.local" });
    expect(ok?.error).toBeUndefined();
    expect(ok?.durationMs).toBeGreaterThanOrEqual(0);
    const failed = events.find((event) => event.path === "/down");
    expect(failed).toMatchObject({ status: 502, route: "dead.local" });
    expect(failed?.error).toBeDefined();
    expect(events.find((event) => event.path === "/none")).toMatchObject({ status: 404, route: undefined });
  });
});

describe("stop()", () => {
  test("frees both ports: an exclusive bind succeeds afterwards", async () => {
    const own = await ProxyServer.listen({
      host: "127.0.0.1",
      httpsPort: 0,
      httpPort: 0,
      routes,
      tls: entries,
      upstream: fetchUpstream,
    });
    const ports = own.ports;
    expect((await curl("https", "a.local", ports.https, "/", ["--cacert", testCA.caPath])).exitCode).toBe(0);
    await own.stop();
    // Without reusePort, these binds fail while any listener (ours included) still holds the port.
    assertPortFree(ports.https);
    assertPortFree(ports.http);
    expect((await curl("https", "a.local", ports.https, "/", ["--cacert", testCA.caPath])).exitCode).toBe(7);
  });
});
