/** forward(): the web-standard proxy core, driven with an injected upstream function (no sockets). */
import { describe, expect, test } from "bun:test";
import { fetchUpstream } from "../../src/proxy/fetch-upstream.ts";
import { type ForwardContext, forward, type OutgoingRequest, pathOf, type Upstream } from "../../src/proxy/forward.ts";
import type { ProxyRoute } from "../../src/proxy/router.ts";
import { route } from "../helpers/proxy.ts";

const ctx: ForwardContext = {
  host: "myapp.local:8443",
  clientIp: "127.0.0.1",
  proto: "https",
  port: 8443,
  via: "1.1 gotunnel-0badf00d",
  clientClose: false,
};
const myapp = route("myapp.local", 3000);

/** An upstream that records what it was sent and answers with `answer`. */
function recording(answer: () => Response | Promise<Response> = () => new Response("ok")) {
  const calls: { route: ProxyRoute; request: OutgoingRequest; body: string | null }[] = [];
  const upstream: Upstream = async (r, request) => {
    const body = request.body ? await new Response(request.body).text() : null;
    calls.push({ route: r, request, body });
    return answer();
  };
  return { upstream, calls };
}

function rejecting(error: unknown): Upstream {
  return () => Promise.reject(error);
}

function header(request: OutgoingRequest, name: string): string[] {
  return request.headers.filter(([key]) => key === name).map(([, value]) => value);
}

describe("what the upstream receives", () => {
  test("method, origin-form path with query, body, length, signal and rewritten headers", async () => {
    const { upstream, calls } = recording();
    const req = new Request("https://myapp.local:8443/api/items?page=2&q=a%20b", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "content-length": "7",
        connection: "keep-alive",
        host: "myapp.local:8443",
      },
      body: '{"a":1}',
    });
    const { response, error } = await forward(req, myapp, ctx, upstream);
    expect([response.status, error]).toEqual([200, undefined]);
    const call = calls[0]!;
    expect(call.route).toBe(myapp);
    expect(call.request.method).toBe("POST");
    expect(call.request.path).toBe("/api/items?page=2&q=a%20b");
    expect(call.body).toBe('{"a":1}');
    expect(call.request.contentLength).toBe(7);
    expect(call.request.signal).toBe(req.signal);
    expect(header(call.request, "content-type")).toEqual(["application/json"]);
    expect(header(call.request, "connection")).toEqual([]);
    expect(header(call.request, "host")).toEqual(["myapp.local:8443"]);
    expect(header(call.request, "x-forwarded-proto")).toEqual(["https"]);
    expect(header(call.request, "x-forwarded-for")).toEqual(["127.0.0.1"]);
    expect(header(call.request, "via")).toEqual(["1.1 gotunnel-0badf00d"]);
  });

  test("a GET has no body and no length", async () => {
    const { upstream, calls } = recording();
    await forward(new Request("https://myapp.local/"), myapp, ctx, upstream);
    expect(calls[0]!.request.body).toBeNull();
    expect(calls[0]!.request.contentLength).toBeUndefined();
    expect(calls[0]!.request.path).toBe("/");
  });

  test("preserveHost: false sends the target's host:port; route headers are added", async () => {
    const { upstream, calls } = recording();
    const rewritten = route("myapp.local", 3000, { preserveHost: false, headers: { "X-Forwarded-Prefix": "/app" } });
    await forward(new Request("https://myapp.local/"), rewritten, ctx, upstream);
    expect(header(calls[0]!.request, "host")).toEqual(["127.0.0.1:3000"]);
    expect(header(calls[0]!.request, "x-forwarded-prefix")).toEqual(["/app"]);
  });
});

describe("the response", () => {
  // The Upstream seam hands over responses without hop-by-hop headers (the parser and fetchUpstream drop them).
  test("status, body and headers pass through untouched", async () => {
    const { upstream } = recording(() => {
      const headers = new Headers({ etag: '"v1"' });
      headers.append("set-cookie", "a=1");
      headers.append("set-cookie", "b=2");
      return new Response("created", { status: 201, headers });
    });
    const { response } = await forward(new Request("https://myapp.local/"), myapp, ctx, upstream);
    expect(response.status).toBe(201);
    expect(await response.text()).toBe("created");
    expect(response.headers.get("etag")).toBe('"v1"');
    expect(response.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
  });

  test("fetchUpstream removes hop-by-hop response headers, and those Connection names", async () => {
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () =>
        new Response("ok", { headers: { connection: "x-hop", "keep-alive": "timeout=5", "x-hop": "1", etag: '"v1"' } }),
    });
    try {
      const response = await fetchUpstream(route("myapp.local", server.port ?? 0), {
        method: "GET",
        path: "/",
        headers: [],
        body: null,
        contentLength: undefined,
        signal: new AbortController().signal,
      });
      expect(response.headers.get("etag")).toBe('"v1"');
      for (const name of ["connection", "keep-alive", "x-hop"]) expect(response.headers.has(name)).toBe(false);
    } finally {
      server.stop(true);
    }
  });

  test("answers `Connection: close` when the client asked to close (Bun does not, DESIGN.md)", async () => {
    const { upstream } = recording(() => new Response("ok"));
    const closing = { ...ctx, clientClose: true };
    const { response } = await forward(new Request("https://myapp.local/"), myapp, closing, upstream);
    expect(response.headers.get("connection")).toBe("close");
    const kept = await forward(new Request("https://myapp.local/"), myapp, ctx, upstream);
    expect(kept.response.headers.has("connection")).toBe(false);
  });

  test("an upstream Response with immutable headers (Fetch spec guard) still gets `Connection: close`", async () => {
    // Bun does not enforce the guard today; a Headers whose setters throw TypeError stands in for one that does.
    const immutable = (headers: Headers) =>
      new Proxy(headers, {
        get(target, key) {
          if (key === "set" || key === "append" || key === "delete") {
            return () => {
              throw new TypeError("Headers are immutable");
            };
          }
          const value = Reflect.get(target, key, target);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    const upstream: Upstream = async () => {
      const original = new Response("ok", { status: 203, headers: { etag: '"v1"' } });
      const guarded = immutable(original.headers);
      return new Proxy(original, {
        get(target, key) {
          if (key === "headers") return guarded;
          const value = Reflect.get(target, key, target);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    };
    const closing = { ...ctx, clientClose: true };
    const { response } = await forward(new Request("https://myapp.local/"), myapp, closing, upstream);
    expect(response.headers.get("connection")).toBe("close");
    expect(response.headers.get("etag")).toBe('"v1"');
    expect(response.status).toBe(203);
    expect(await response.text()).toBe("ok");
  });
});

describe("upstream failures become a 502 that says why", () => {
  const cases: [string, unknown, string][] = [
    ["kind refused (pooled client)", Object.assign(new Error("x"), { kind: "refused" }), "(connection refused)"],
    ["code ECONNREFUSED", Object.assign(new Error("x"), { code: "ECONNREFUSED" }), "(connection refused)"],
    ["fetch's ConnectionRefused", Object.assign(new Error("x"), { code: "ConnectionRefused" }), "(connection refused)"],
    ["kind timeout", Object.assign(new Error("x"), { kind: "timeout" }), "(timed out)"],
    ["kind reset", Object.assign(new Error("x"), { kind: "reset" }), "(connection reset)"],
    ["code ECONNRESET", Object.assign(new Error("x"), { code: "ECONNRESET" }), "(connection reset)"],
    [
      "an unknown Error",
      new Error("upstream sent a malformed response: bad status line"),
      "(upstream sent a malformed",
    ],
    ["a string", "boom", "(boom)"],
    ["undefined", undefined, "(undefined)"],
    ["null", null, "(null)"],
  ];
  for (const [label, thrown, reason] of cases) {
    test(label, async () => {
      const { response, error } = await forward(new Request("https://myapp.local/"), myapp, ctx, rejecting(thrown));
      expect(response.status).toBe(502);
      expect(error).toBe(thrown);
      const text = await response.text();
      expect(text).toContain(reason);
      expect(text).toContain("myapp.local: the upstream http://127.0.0.1:3000 is not answering");
    });
  }

  test("a 502 also answers `Connection: close` when the client asked", async () => {
    const closing = { ...ctx, clientClose: true };
    const { response } = await forward(new Request("https://myapp.local/"), myapp, closing, rejecting(new Error("x")));
    expect(response.status).toBe(502);
    expect(response.headers.get("connection")).toBe("close");
  });

  test("a 502 is HTML for a browser", async () => {
    const req = new Request("https://myapp.local/", { headers: { accept: "text/html" } });
    const { response } = await forward(req, myapp, ctx, rejecting(new Error("x")));
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
  });
});

describe("framing", () => {
  test("the upstream gets the one parsed length, and no framing field of the client's", async () => {
    const { upstream, calls } = recording();
    // Two `Content-Length: 5` lines reach the handler joined, as Bun.serve joins them.
    const req = new Request("https://myapp.local/", {
      method: "POST",
      headers: { "content-length": "5, 5" },
      body: "hello",
    });
    const { response } = await forward(req, myapp, ctx, upstream);
    expect(response.status).toBe(200);
    expect(calls[0]!.request.contentLength).toBe(5);
    expect(header(calls[0]!.request, "content-length")).toEqual([]);
    expect(calls[0]!.body).toBe("hello");
  });

  test.each([
    ["conflicting lengths", { "content-length": "5, 6" }],
    ["a length that is not a number", { "content-length": "NaN" }],
    ["both framings", { "content-length": "5", "transfer-encoding": "chunked" }],
    ["an unsupported coding", { "transfer-encoding": "gzip, chunked" }],
  ])("%s: a 400 with Connection: close, and the upstream is never called", async (_name, headers) => {
    const { upstream, calls } = recording();
    const req = new Request("https://myapp.local/", { method: "POST", headers, body: "hello" });
    const { response, error } = await forward(req, myapp, ctx, upstream);
    expect([response.status, error, calls.length]).toEqual([400, undefined, 0]);
    expect(response.headers.get("connection")).toBe("close");
    expect(await response.text()).toContain("gotunnel did not forward this request");
  });
});

describe("a client that leaves before the answer", () => {
  test("is a 499, not an upstream error", async () => {
    const client = new AbortController();
    const upstream: Upstream = (_route, request) =>
      new Promise((_resolve, reject) => {
        request.signal.addEventListener("abort", () => reject(new Error("The connection was closed.")));
        client.abort();
      });
    const req = new Request("https://myapp.local/", { signal: client.signal });
    const { response, error } = await forward(req, myapp, ctx, upstream);
    expect([response.status, error]).toEqual([499, undefined]);
  });
});

describe("pathOf", () => {
  test.each([
    ["https://a.local/", "/"],
    ["https://a.local", "/"],
    ["http://a.local:8080/x/y?z=1#frag", "/x/y?z=1#frag"],
    ["http://[::1]:8080/p", "/p"],
    ["http://a.local//double", "//double"],
    // Bun's req.url when the Host header is not a valid authority (e.g. `myapp.local:<x>`): already origin-form.
    ["/p/q?x=1", "/p/q?x=1"],
    ["/", "/"],
  ])("%p → %p", (url, expected) => {
    expect(pathOf(url)).toBe(expected);
  });
});
