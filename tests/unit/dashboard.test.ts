/**
 * The dashboard's pure parts (src/daemon/dashboard): who may read and who may change (guard.ts), "copy as curl",
 * the list's and detail's JSON (views.ts), the live feed's bound (events.ts), and what it builds on: the request
 * log's numbered entries, watchers and capture ring, body taps (proxy/capture.ts), the opener (platform/open-url.ts)
 * and the reserved name (admission.ts).
 */
import { describe, expect, test } from "bun:test";
import { DASHBOARD_HOST, dashboardOrigin } from "../../src/core/dashboard.ts";
import { assertRouteName } from "../../src/daemon/admission.ts";
import { curlCommand, shellQuote } from "../../src/daemon/dashboard/curl.ts";
import { eventStream } from "../../src/daemon/dashboard/events.ts";
import { changeRefusal, newToken, readRefusal, TOKEN_HEADER } from "../../src/daemon/dashboard/guard.ts";
import {
  REPLAY_HEADER,
  replayBody,
  requestDetail,
  requestSummary,
  routeRows,
} from "../../src/daemon/dashboard/views.ts";
import { RequestLog } from "../../src/daemon/request-log.ts";
import { canOpenBrowser, openerCommand } from "../../src/platform/open-url.ts";
import { type BodyTap, type Capture, emptyTap, tapBytes, tapStream } from "../../src/proxy/capture.ts";
import type { RequestEvent } from "../../src/proxy/server.ts";

function event(path: string, extra: Partial<RequestEvent> = {}): RequestEvent {
  return {
    method: "GET",
    host: "a.local:8443",
    path,
    status: 200,
    durationMs: 1.23456,
    route: "a.local",
    error: undefined,
    ...extra,
  };
}

function doneTap(text: string, totalBytes = text.length): BodyTap {
  const bytes = new TextEncoder().encode(text);
  return { chunks: [bytes], keptBytes: bytes.byteLength, totalBytes, done: true };
}

const ORIGIN = dashboardOrigin(8443);

describe("the dashboard's address", () => {
  test("carries the port only when it is not 443", () => {
    expect(dashboardOrigin(443)).toBe("https://gotunnel.localhost");
    expect(dashboardOrigin(8443)).toBe("https://gotunnel.localhost:8443");
  });

  test("no route may take the dashboard's name", () => {
    expect(() => assertRouteName({ name: DASHBOARD_HOST, wildcard: false, https: true })).toThrow(
      "gotunnel.localhost is gotunnel's own dashboard",
    );
    expect(() => assertRouteName({ name: "app.localhost", wildcard: false, https: true })).not.toThrow();
  });
});

describe("guard", () => {
  const headers = (fields: Record<string, string>) => new Headers({ host: "gotunnel.localhost:8443", ...fields });
  const token = newToken();

  test("reads: a loopback client naming the dashboard; anyone else is refused", () => {
    for (const ip of ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"])
      expect(readRefusal("gotunnel.localhost:8443", ip)).toBeUndefined();
    expect(readRefusal("gotunnel.localhost:8443", "192.168.1.20")?.reason).toContain("this computer only");
    expect(readRefusal("gotunnel.localhost:8443", "::ffff:10.0.0.2")?.status).toBe(403);
    for (const host of ["evil.example", "localhost:8443", "gotunnel.localhost.evil.example", null])
      expect(readRefusal(host, "127.0.0.1")?.status).toBe(403);
  });

  test("changes need the exact Origin and the token", () => {
    const good = { origin: ORIGIN, [TOKEN_HEADER]: token };
    expect(changeRefusal(headers(good), "127.0.0.1", ORIGIN, token)).toBeUndefined();
    const bad: Record<string, string>[] = [
      { [TOKEN_HEADER]: token },
      { origin: "https://evil.example", [TOKEN_HEADER]: token },
      { origin: "null", [TOKEN_HEADER]: token },
      { origin: "https://gotunnel.localhost", [TOKEN_HEADER]: token },
      { origin: "http://gotunnel.localhost:8443", [TOKEN_HEADER]: token },
      { origin: ORIGIN },
      { origin: ORIGIN, [TOKEN_HEADER]: `${token}x` },
      { origin: ORIGIN, [TOKEN_HEADER]: "" },
    ];
    for (const fields of bad) expect(changeRefusal(headers(fields), "127.0.0.1", ORIGIN, token)?.status).toBe(403);
    expect(changeRefusal(headers(good), "10.0.0.2", ORIGIN, token)?.status).toBe(403);
  });

  test("each dashboard gets its own random token", () => {
    const tokens = new Set(Array.from({ length: 20 }, newToken));
    expect(tokens.size).toBe(20);
    for (const one of tokens) expect(one).toMatch(/^[\w-]{43}$/);
  });
});

describe("copy as curl", () => {
  test("quotes for a POSIX shell", () => {
    expect(shellQuote("plain-word")).toBe("plain-word");
    expect(shellQuote("it's $HOME")).toBe(`'it'\\''s $HOME'`);
  });

  test("sends the method, the fields (not Host or framing) and the body to the URL, trusting the CA", () => {
    const command = curlCommand({
      method: "POST",
      url: "https://a.local:8443/orders?x=1",
      headers: [
        ["host", "a.local:8443"],
        ["content-length", "5"],
        ["content-type", "application/json"],
        ["cookie", "a='b'"],
      ],
      body: '{"a":1}',
      caPath: "/home/me/ca.pem",
    });
    expect(command).toBe(
      `curl --cacert /home/me/ca.pem -X POST -H 'content-type: application/json' -H 'cookie: a='\\''b'\\''' --data-binary '{"a":1}' 'https://a.local:8443/orders?x=1'`,
    );
    expect(curlCommand({ method: "GET", url: "https://a.local/", headers: [], caPath: "/ca.pem" })).toBe(
      "curl --cacert /ca.pem https://a.local/",
    );
  });
});

describe("views", () => {
  test("a summary redacts secrets, reads the size and marks replays", () => {
    const summary = requestSummary({
      id: 7,
      timeMs: 0,
      event: event("/cb?token=abc&page=2", {
        responseLength: "42",
        requestHeaders: new Headers({ [REPLAY_HEADER]: "3" }),
      }),
    });
    expect(summary).toMatchObject({ id: 7, path: "/cb?token=REDACTED&page=2", size: 42, replayOf: 3, captured: false });
    expect(requestSummary({ id: 1, timeMs: 0, event: event("/") }).size).toBeUndefined();
  });

  test("a detail shows both sides' fields, the Content-Length Bun took out, and the captured bodies", () => {
    const capture: Capture = { request: doneTap("q=1"), response: doneTap("\u00ff\u00fe") };
    capture.response = { chunks: [new Uint8Array([0xff, 0xfe])], keptBytes: 2, totalBytes: 2, done: true };
    const detail = requestDetail(
      {
        id: 2,
        timeMs: 0,
        event: event("/f", {
          method: "POST",
          requestHeaders: new Headers({ "content-length": "3", "x-a": "1" }),
          responseHeaders: new Headers({ "content-type": "image/png" }),
          responseLength: "2",
          capture,
        }),
      },
      { scheme: "https", caPath: "/ca.pem" },
    );
    expect(detail.requestHeaders).toContainEqual(["x-a", "1"]);
    expect(detail.responseHeaders).toEqual([
      ["content-type", "image/png"],
      ["content-length", "2"],
    ]);
    expect(detail.capture?.request).toMatchObject({ text: "q=1", totalBytes: 3, truncated: false, complete: true });
    expect(detail.capture?.response).toMatchObject({ base64: "//4=", totalBytes: 2 });
    expect(detail.curl).toContain("--data-binary q=1 https://a.local:8443/f");
    expect(detail.replayable).toBe(true);
  });

  test("replay knows a body only when there is none or it was captured whole", () => {
    const entry = (extra: Partial<RequestEvent>) => ({ id: 1, timeMs: 0, event: event("/", extra) });
    expect(replayBody(entry({ requestHeaders: new Headers() }))).toBeNull();
    expect(replayBody(entry({ requestHeaders: new Headers({ "content-length": "4" }) }))).toBe("unknown");
    expect(replayBody(entry({ requestHeaders: new Headers({ "transfer-encoding": "chunked" }) }))).toBe("unknown");
    const whole = { request: doneTap("body"), response: undefined };
    expect(new TextDecoder().decode(replayBody(entry({ capture: whole })) as Uint8Array)).toBe("body");
    const cut = { request: doneTap("body", 70_000), response: undefined };
    expect(replayBody(entry({ capture: cut }))).toBe("unknown");
    const streaming = { request: { ...doneTap("bo"), done: false }, response: undefined };
    expect(replayBody(entry({ capture: streaming }))).toBe("unknown");
  });

  test("route rows carry the certificate's expiry, a wildcard's included, and the capture switch", () => {
    const base = {
      wildcard: false,
      target: { protocol: "http:" as const, hostname: "localhost", port: 3000, origin: "http://localhost:3000" },
      https: true,
      headers: {},
      preserveHost: false,
      owner: { kind: "command" as const, cwd: "/w" },
      persistent: false,
      addedAt: "",
      url: "https://a.local",
      requests: 3,
      status: "serving" as const,
    };
    const notAfter = new Date("2030-01-01T00:00:00Z");
    const rows = routeRows(
      [
        { ...base, name: "a.local" },
        { ...base, name: "w.local", wildcard: true },
        { ...base, name: "plain.local", https: false },
        { ...base, name: "box.local", owner: { kind: "docker" as const, container: "box", id: "3f5cada22e43aa" } },
      ],
      [
        { certificate: "a.local", notAfter },
        { certificate: "*.w.local", notAfter },
      ],
      new Set(["w.local"]),
    );
    expect(rows.map((row) => [row.name, row.certificateExpires, row.capture, row.owner, row.session])).toEqual([
      ["a.local", notAfter.toISOString(), false, "command in /w", true],
      ["w.local", notAfter.toISOString(), true, "command in /w", true],
      ["plain.local", undefined, false, "command in /w", true],
      ["box.local", undefined, false, "container box (docker)", false],
    ]);
  });
});

describe("request log entries", () => {
  test("are numbered, found by number while in the ring, and gone once overwritten", () => {
    const log = new RequestLog(3);
    for (const path of ["/1", "/2", "/3", "/4"]) log.push(event(path));
    expect(log.entry(1)).toBeUndefined();
    expect(log.entry(2)?.event.path).toBe("/2");
    expect(log.entry(4)?.event.path).toBe("/4");
    for (const id of [0, 5, 2.5, -1, Number.NaN]) expect(log.entry(id)).toBeUndefined();
    expect(log.entries().map((entry) => entry.id)).toEqual([2, 3, 4]);
    expect(log.entries(2).map((entry) => entry.id)).toEqual([3, 4]);
  });

  test("watchers get each new request until they stop", () => {
    const log = new RequestLog(3);
    const seen: number[] = [];
    const stop = log.watch((entry) => seen.push(entry.id));
    log.push(event("/1"));
    log.push(event("/2"));
    stop();
    log.push(event("/3"));
    expect(seen).toEqual([1, 2]);
  });

  test("only the newest captures keep their bodies", () => {
    const log = new RequestLog(100, 2);
    const events = [1, 2, 3].map((n) => event(`/${n}`, { capture: { request: emptyTap(true), response: undefined } }));
    for (const one of events) log.push(one);
    expect(events.map((one) => one.capture !== undefined)).toEqual([false, true, true]);
    expect(log.entry(1)?.event.path).toBe("/1");
  });
});

describe("the live feed", () => {
  test("holds a bounded backlog for a page that does not read, then says how many it dropped", async () => {
    const log = new RequestLog(100);
    const abort = new AbortController();
    const stream = eventStream(log, abort.signal, 3);
    const reader = stream.getReader();
    for (let n = 1; n <= 10; n++) log.push(event(`/${n}`));
    let text = "";
    // The opening comment takes one place of the three: two requests fit, eight are dropped.
    for (let read = 0; read < 3; read++) text += new TextDecoder().decode((await reader.read()).value);
    log.push(event("/11"));
    text += new TextDecoder().decode((await reader.read()).value);
    text += new TextDecoder().decode((await reader.read()).value);
    abort.abort();
    expect(text.match(/event: request/g)?.length).toBe(3);
    expect(text).toContain('event: dropped\ndata: {"count":8}');
    expect(text).toContain('"path":"/11"');
  });
});

describe("body taps", () => {
  test("pass every byte through and keep only the first ones", async () => {
    const tap = emptyTap();
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const text of ["hello ", "big ", "world"]) controller.enqueue(new TextEncoder().encode(text));
        controller.close();
      },
    });
    const passed = await new Response(tapStream(source, tap, 8)).text();
    expect(passed).toBe("hello big world");
    expect(new TextDecoder().decode(tapBytes(tap))).toBe("hello bi");
    expect(tap).toMatchObject({ keptBytes: 8, totalBytes: 15, done: true });
  });
});

describe("opening the browser", () => {
  test("each platform's opener", () => {
    expect(openerCommand("linux", "https://x")).toEqual(["xdg-open", "https://x"]);
    expect(openerCommand("darwin", "https://x")).toEqual(["open", "https://x"]);
    expect(openerCommand("win32", "https://x")).toEqual(["cmd", "/c", "start", '""', "https://x"]);
    expect(openerCommand("aix", "https://x")).toBeUndefined();
  });

  test("only at a terminal, and on Linux only in a graphical session", () => {
    expect(canOpenBrowser({ platform: "linux", env: { DISPLAY: ":0" }, isTTY: false })).toBe(false);
    expect(canOpenBrowser({ platform: "linux", env: {}, isTTY: true })).toBe(false);
    expect(canOpenBrowser({ platform: "linux", env: { DISPLAY: ":0" }, isTTY: true })).toBe(true);
    expect(canOpenBrowser({ platform: "linux", env: { WAYLAND_DISPLAY: "wayland-0" }, isTTY: true })).toBe(true);
    expect(canOpenBrowser({ platform: "darwin", env: {}, isTTY: true })).toBe(true);
  });
});
