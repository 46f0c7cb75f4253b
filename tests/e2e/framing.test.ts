/**
 * Request framing and fidelity through the compiled binary, with a raw TLS client and a raw upstream that records
 * the bytes it receives: one regenerated framing header per request, ambiguous lengths refused with a 400 that
 * never reaches the upstream, bodies on every method Bun lets through, what of the request-target survives, and
 * what a client that pipelines gets. The Bun.serve limits pinned here are described in CONTRIBUTING.md.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { E2EScope, type Gotunnel, requireBinary } from "../helpers/e2e.ts";
import {
  fieldValues,
  type RawReply,
  type RecordedRequest,
  type RecordingUpstream,
  rawExchange,
  requestTarget,
  startRecordingUpstream,
  statuses,
} from "../helpers/raw-http.ts";

const scope = new E2EScope();
let gotunnel: Gotunnel;
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
  gotunnel = await scope.up(dir, scope.dir("home"));
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

  test("a chunked body is forwarded with one Transfer-Encoding: chunked and no Content-Length", async () => {
    const reply = await send(
      ["POST /chunked HTTP/1.1", "Transfer-Encoding: chunked", "Connection: close"],
      "5\r\nhello\r\n0\r\n\r\n",
    );
    expect(statuses(reply)).toEqual([200]);
    const request = received("/chunked");
    expect(request && fieldValues(request.head, "transfer-encoding")).toEqual(["chunked"]);
    expect(request && fieldValues(request.head, "content-length")).toEqual([]);
    expect(request?.body).toBe("5\r\nhello\r\n0\r\n\r\n");
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
