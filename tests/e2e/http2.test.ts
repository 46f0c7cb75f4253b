/**
 * HTTP/2 to clients, through the compiled daemon (issue 16): the HTTPS listener offers h2 and http/1.1 by ALPN, and
 * forwarding behaves as over HTTP/1.1. Routing by `:authority`, many Set-Cookie fields kept apart, no
 * connection-specific field in any h2 answer (RFC 9113 §8.2.2), HEAD and 304, trailers, bodies streamed both ways,
 * the request log, WebSockets over HTTP/1.1 on the same port (no RFC 8441), h2load at 50 connections × 10 streams.
 * `proxy.http2: false` and the plain-HTTP listener speak HTTP/1.1. Timeouts, cancelled streams and the listener
 * swap over h2 are in http2-streams.test.ts, real browsers in http2-browsers.test.ts.
 *
 * Each h2 assertion also checks that h2 was negotiated: without it, curl falls back to HTTP/1.1 silently.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, mkdirSync, openSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { curl, E2EScope, type Gotunnel, headerValues, requireBinary, run, runGotunnel, until } from "../helpers/e2e.ts";
import {
  CONNECTION_SPECIFIC,
  connectH2,
  connectionSpecific,
  curlOver,
  type H2Connection,
  h2Request,
  PROTOCOL_ERROR,
  rawH2Request,
  SETTINGS_ENABLE_CONNECT_PROTOCOL,
} from "../helpers/h2.ts";
import { requireTools } from "../helpers/tools.ts";
import {
  downloadSha256,
  type SeenRequest,
  startByteUpstream,
  startEchoUpstream,
  startRawUpstream,
  startWebSocketUpstream,
} from "../helpers/upstreams.ts";

const MIB = 1024 ** 2;
const UPLOAD_BYTES = 512 * MIB;
const DOWNLOAD_BYTES = 64 * MIB;
/** What the daemon may reach while a 512 MiB upload streams through it; buffering it whole would pass this. */
const PEAK_RSS_LIMIT_KIB = 300 * 1024;
const COOKIES = Array.from({ length: 30 }, (_, i) => `c${i}=${i}; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT`);
/** An upstream response with every hop-by-hop field (RFC 9110 §7.6.1), a chunked body and a trailer. */
const HOP_BY_HOP_RESPONSE = [
  "HTTP/1.1 200 OK",
  "Content-Type: text/plain",
  "Transfer-Encoding: chunked",
  "Trailer: X-Checksum",
  "Connection: close, X-Bar",
  "X-Bar: connection-specific",
  "Keep-Alive: timeout=5, max=100",
  "Proxy-Connection: keep-alive",
  "Upgrade: h2c",
  "X-Kept: end-to-end",
  "",
  "5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n",
].join("\r\n");
const COOKIE_RESPONSE = `HTTP/1.1 200 OK\r\n${COOKIES.map((c) => `Set-Cookie: ${c}\r\n`).join("")}Content-Length: 7\r\nConnection: close\r\n\r\ncookies`;

const h2load = requireTools("h2load");
const nghttp = requireTools("nghttp");
const scope = new E2EScope();
let gotunnel: Gotunnel;
let ca: string;
let echo: ReturnType<typeof startEchoUpstream>;
let bytes: ReturnType<typeof startByteUpstream>;
let ws: ReturnType<typeof startWebSocketUpstream>;

beforeAll(async () => {
  requireBinary();
  echo = startEchoUpstream();
  bytes = startByteUpstream();
  ws = startWebSocketUpstream();
  const hop = startRawUpstream(HOP_BY_HOP_RESPONSE);
  const cookies = startRawUpstream(COOKIE_RESPONSE);
  for (const upstream of [echo, bytes, ws, hop, cookies]) scope.defer(upstream.stop);
  const dir = scope.project({
    "gotunnel.config.json": JSON.stringify({
      routes: {
        "myapp.local": echo.port,
        "other.local": echo.port,
        "plain.local": { target: echo.port, https: false },
        "bytes.local": bytes.port,
        "ws.local": ws.port,
        "hop.local": hop.port,
        "cookies.local": cookies.port,
      },
    }),
  });
  gotunnel = await scope.up(dir, scope.dir("home"));
  ca = await Bun.file(gotunnel.caPath).text();
});

afterAll(() => scope.dispose());

const url = (name: string, path: string) => `https://${name}:${gotunnel.httpsPort}${path}`;

/** curl over h2 or HTTP/1.1 to a route of this file's daemon; `version` says what curl got. */
const curlAs = (version: "2" | "1.1", name: string, path: string, args: string[] = []) =>
  curlOver(version, url(name, path), gotunnel.caPath, args);

/** An h2 connection to the proxy with SNI `name`, closed with the scope. */
async function h2(name = "myapp.local"): Promise<H2Connection> {
  const connection = await connectH2(gotunnel.httpsPort, name, ca);
  scope.defer(() => connection.session.destroy());
  return connection;
}

function seenBy(response: { body: Buffer | Uint8Array }): SeenRequest {
  return JSON.parse(new TextDecoder().decode(response.body)) as SeenRequest;
}

describe("ALPN on the HTTPS listener", () => {
  test("curl --http2 gets h2 and --http1.1 gets HTTP/1.1 on the same port, with the same body", async () => {
    const [two, one] = [await curlAs("2", "myapp.local", "/text"), await curlAs("1.1", "myapp.local", "/text")];
    expect([two.version, one.version]).toEqual(["2", "1.1"]);
    expect([two.status, one.status]).toEqual([200, 200]);
    expect(two.stdout).toBe("hello from upstream");
    expect(one.stdout).toBe(two.stdout);
  });

  test.skipIf(nghttp.skip)(
    nghttp.title("nghttp -nv: h2, a 200, and not one connection-specific field of the upstream's many"),
    async () => {
      const port = gotunnel.httpsPort;
      // nghttp has no --resolve: it connects to 127.0.0.1 (no SNI for an IP) with the route's name as :authority.
      const authority = ["-H", `:authority: hop.local:${port}`];
      const result = await run(["nghttp", "-nv", "--no-dep", ...authority, `https://127.0.0.1:${port}/`]);
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain("The negotiated protocol: h2");
      expect(result.stdout).toContain("recv (stream_id=1) :status: 200");
      const received = [...result.stdout.matchAll(/recv \(stream_id=1\) ([a-z0-9-]+):/g)].map((match) => match[1]);
      expect(received).toContain("x-kept");
      expect(received.filter((name) => CONNECTION_SPECIFIC.includes(name ?? ""))).toEqual([]);
    },
  );

  test("the plain-HTTP listener speaks HTTP/1.1 only: an h2c upgrade is ignored, prior knowledge is refused", async () => {
    const target = `http://plain.local:${gotunnel.httpPort}/text`;
    const upgrade = await curl(target, { args: ["--http2", "-w", "%{stderr}[version %{http_version}]"] });
    expect(upgrade.stdout).toBe("hello from upstream");
    expect(upgrade.stderr).toEndWith("[version 1.1]");
    const prior = await curl(target, { args: ["--http2-prior-knowledge"] });
    expect(prior.exitCode).not.toBe(0);
    expect(prior.stdout).toBe("");
  });
});

describe("forwarding over h2", () => {
  test("the upstream gets the client's :authority as Host and X-Forwarded-Host, and X-Forwarded-Proto https", async () => {
    const response = await curlAs("2", "myapp.local", "/authority");
    expect(response.version).toBe("2");
    const seen = seenBy(response);
    const host = `myapp.local:${gotunnel.httpsPort}`;
    const fields = Object.fromEntries(seen.headers);
    expect([fields.host, fields["x-forwarded-host"], fields["x-forwarded-proto"]]).toEqual([host, host, "https"]);
  });

  test(":authority routes each request: one connection made for myapp.local also serves other.local", async () => {
    const connection = await h2("myapp.local");
    const other = `other.local:${gotunnel.httpsPort}`;
    const [mine, theirs] = await Promise.all([
      h2Request(connection, { ":path": "/mine" }),
      h2Request(connection, { ":path": "/theirs", ":authority": other }),
    ]);
    expect([mine.status, theirs.status]).toEqual([200, 200]);
    expect(Object.fromEntries(seenBy(theirs).headers)["x-forwarded-host"]).toBe(other);
    expect(Object.fromEntries(seenBy(mine).headers)["x-forwarded-host"]).toBe(connection.authority);
  });

  test("a Host field that disagrees with :authority gets the stream reset, and reaches no upstream", async () => {
    const connection = await h2("myapp.local");
    const before = echo.seen.length;
    const response = await h2Request(connection, { ":path": "/two-names", host: "other.local" });
    expect(response.rstCode).toBe(PROTOCOL_ERROR);
    expect(echo.seen.slice(before).map((seen) => seen.path)).not.toContain("/two-names");
    expect((await h2Request(connection, { ":path": "/after" })).status).toBe(200);
  });

  test("30 Set-Cookie fields, commas in their dates, arrive as 30 fields", async () => {
    const response = await curlAs("2", "cookies.local", "/");
    expect(response.version).toBe("2");
    expect(headerValues(response, "set-cookie")).toEqual(COOKIES);
  });

  test("hop-by-hop fields of the upstream reach no h2 client; end-to-end fields and the chunked body do", async () => {
    for (const version of ["2", "1.1"] as const) {
      const response = await curlAs(version, "hop.local", "/");
      expect(response.version).toBe(version);
      expect(response.stdout).toBe("hello");
      expect(headerValues(response, "x-kept")).toEqual(["end-to-end"]);
      expect(headerValues(response, "x-bar")).toEqual([]);
      // Over h2 none may appear at all; over HTTP/1.1, only the framing Bun chose itself.
      const fields = connectionSpecific(response.headers);
      expect(version === "2" ? fields : fields.filter((name) => name !== "transfer-encoding")).toEqual([]);
    }
  });

  test("HEAD gets the headers with Content-Length and no body; a 304 has no body", async () => {
    const head = await curlAs("2", "myapp.local", "/head-check", ["--head"]);
    expect(head.version).toBe("2");
    expect(head.status).toBe(200);
    expect(Number(headerValues(head, "content-length")[0])).toBeGreaterThan(0);
    expect(echo.seen.at(-1)?.method).toBe("HEAD");
    const notModified = await curlAs("2", "myapp.local", "/status/304");
    expect(notModified.status).toBe(304);
    expect(notModified.stdout).toBe("");
  });

  test("a request body with trailers arrives whole (the trailers stay with the proxy, as over HTTP/1.1)", async () => {
    const connection = await h2("bytes.local");
    const response = await h2Request(connection, { ":method": "POST", ":path": "/with-trailers" }, (stream) => {
      stream.on("wantTrailers", () => stream.sendTrailers({ "x-checksum": "abc" }));
      stream.end(Buffer.alloc(100_000, 1));
    });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body.toString())).toEqual({ bytes: 100_000 });
  });

  test("a 512 MiB upload streams through (Content-Length and length-less), peak RSS under 300 MiB", async () => {
    const file = join(scope.dir("upload"), "upload.bin");
    closeSync(openSync(file, "w"));
    truncateSync(file, UPLOAD_BYTES); // sparse: nothing written to disk
    const sized = await curlAs("2", "bytes.local", "/upload", ["-T", file, "-X", "POST"]);
    expect(sized.version).toBe("2");
    expect(JSON.parse(sized.stdout)).toEqual({ bytes: UPLOAD_BYTES });
    const command = `head -c ${UPLOAD_BYTES} /dev/zero | curl -sS --http2 --cacert '${gotunnel.caPath}' --resolve bytes.local:${gotunnel.httpsPort}:127.0.0.1 -T - -X POST '${url("bytes.local", "/upload")}'`;
    const streamed = await run(["bash", "-o", "pipefail", "-c", command], { timeoutMs: 120_000 });
    expect(streamed.stderr).toBe("");
    expect(JSON.parse(streamed.stdout)).toEqual({ bytes: UPLOAD_BYTES });
    expect(bytes.uploads.slice(-2)).toEqual([UPLOAD_BYTES, UPLOAD_BYTES]);
    expect(gotunnel.peakRssKiB()).toBeLessThan(PEAK_RSS_LIMIT_KIB);
  }, 240_000);

  test("a 64 MiB download arrives byte-exact", async () => {
    const client = `curl -sS --fail --http2 -w '%{stderr}[version %{http_version}]' --cacert '${gotunnel.caPath}'`;
    const command = `${client} --resolve bytes.local:${gotunnel.httpsPort}:127.0.0.1 '${url("bytes.local", `/download/${DOWNLOAD_BYTES}`)}' | sha256sum`;
    const result = await run(["bash", "-o", "pipefail", "-c", command], { timeoutMs: 120_000 });
    expect(result.stderr).toBe("[version 2]");
    expect(result.stdout.split(" ")[0]).toBe(downloadSha256(DOWNLOAD_BYTES));
  }, 150_000);

  test("the request log has the h2 request's method, host, path, status and route", async () => {
    const response = await curlAs("2", "myapp.local", "/logged-over-h2", ["-X", "DELETE"]);
    expect(response.version).toBe("2");
    const logged = await until(() => gotunnel.requestLog().find((line) => line.path === "/logged-over-h2"));
    expect(logged).toEqual(
      expect.objectContaining({ method: "DELETE", host: `myapp.local:${gotunnel.httpsPort}`, status: 200 }),
    );
    expect(logged?.route).toBe("myapp.local");
  });
});

describe("WebSockets next to h2", () => {
  test("the server offers no extended CONNECT, so browsers use HTTP/1.1 for WebSockets, which works on the port", async () => {
    const connection = await h2("ws.local");
    const settings = await connection.settings;
    expect(settings.enableConnectProtocol ?? false).toBe(false);
    // Bun's WebSocket client offers no ALPN: it speaks HTTP/1.1, like a browser on a server without RFC 8441.
    const socket = new WebSocket(`wss://127.0.0.1:${gotunnel.httpsPort}/hmr`, {
      tls: { ca, serverName: "ws.local" },
      headers: { host: `ws.local:${gotunnel.httpsPort}` },
    } as unknown as string[]);
    scope.defer(() => socket.close());
    const echoed = new Promise<string>((resolve, reject) => {
      socket.addEventListener("message", (event) => resolve(String(event.data)));
      socket.addEventListener("error", () => reject(new Error("WebSocket failed")));
    });
    socket.addEventListener("open", () => socket.send("over http/1.1"));
    expect(await echoed).toBe("over http/1.1");
    expect(ws.handshakes.at(-1)?.path).toBe("/hmr");
  });

  test("an extended CONNECT sent anyway is reset with PROTOCOL_ERROR and reaches no upstream", async () => {
    const before = ws.handshakes.length;
    const frames = await rawH2Request(gotunnel.httpsPort, "ws.local", ca, [
      [":method", "CONNECT"],
      [":protocol", "websocket"],
      [":scheme", "https"],
      [":path", "/hmr"],
      [":authority", `ws.local:${gotunnel.httpsPort}`],
      ["sec-websocket-version", "13"],
    ]);
    const settings = frames.find((frame) => frame.type === "SETTINGS" && frame.flags === 0)?.settings ?? {};
    expect(settings[SETTINGS_ENABLE_CONNECT_PROTOCOL] ?? 0).toBe(0);
    expect(frames.find((frame) => frame.streamId === 1)).toEqual(
      expect.objectContaining({ type: "RST_STREAM", code: PROTOCOL_ERROR }),
    );
    expect(ws.handshakes.length).toBe(before);
  });
});

describe.skipIf(h2load.skip)(h2load.title("h2load"), () => {
  test("20,000 requests over 50 connections × 10 streams: every one answered 200", async () => {
    const port = gotunnel.httpsPort;
    const argv = ["h2load", "-n", "20000", "-c", "50", "-m", "10", "--connect-to", `127.0.0.1:${port}`];
    const result = await run([...argv, `https://myapp.local:${port}/text`], { timeoutMs: 120_000 });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("Application protocol: h2");
    expect(result.stdout).toContain(
      "requests: 20000 total, 20000 started, 20000 done, 20000 succeeded, 0 failed, 0 errored, 0 timeout",
    );
    expect(result.stdout).toContain("status codes: 20000 2xx, 0 3xx, 0 4xx, 0 5xx");
  }, 150_000);
});

describe("proxy.http2: false", () => {
  test.each([
    ["GOTUNNEL_HTTP2=0", { GOTUNNEL_HTTP2: "0" }, {}, {}],
    ["the daemon's user file", {}, { proxy: { http2: false } }, {}],
    ["the project file of the command that starts the daemon", {}, {}, { proxy: { http2: false } }],
  ])("%s: curl --http2 gets HTTP/1.1", async (_, env, userFile, projectFile) => {
    const home = scope.dir("home-off");
    // The daemon's user file: <GOTUNNEL_HOME>/config/ when GOTUNNEL_HOME is set (src/platform/paths.ts).
    mkdirSync(join(home, "config"), { recursive: true });
    writeFileSync(join(home, "config", "config.json"), JSON.stringify(userFile));
    const project = { ...projectFile, routes: { "myapp.local": echo.port } };
    const dir = scope.project({ "gotunnel.config.json": JSON.stringify(project) });
    const off = await scope.start(["up", "--proxy-https-port", "0", "--proxy-http-port", "0"], { cwd: dir, home, env });
    const response = await curl(`https://myapp.local:${off.httpsPort}/text`, {
      ca: off.caPath,
      args: ["--http2", "-w", "%{stderr}[version %{http_version}]"],
    });
    expect(response.stdout).toBe("hello from upstream");
    expect(response.stderr).toEndWith("[version 1.1]");
  });

  test("GOTUNNEL_HTTP2=maybe is a config error naming the variable and what is valid", async () => {
    const dir = scope.project({ "gotunnel.config.json": JSON.stringify({ routes: { "myapp.local": echo.port } }) });
    const result = await runGotunnel(["up", "--proxy-https-port", "0", "--proxy-http-port", "0"], {
      cwd: dir,
      home: scope.dir("home-bad"),
      env: { GOTUNNEL_HTTP2: "maybe" },
    });
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain("GOTUNNEL_HTTP2");
    expect(result.stderr).toContain("expected true or false");
  });
});
