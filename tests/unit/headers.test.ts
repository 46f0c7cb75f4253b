/** Header rewriting between client and upstream (RFC 9110 §7.6.1 hop-by-hop, X-Forwarded-*, Via). */
import { describe, expect, test } from "bun:test";
import {
  type ForwardedFacts,
  isLoop,
  stripResponseHopHeaders,
  upstreamRequestHeaders,
} from "../../src/proxy/headers.ts";

const VIA = "1.1 gotunnel-0badf00d";
const facts: ForwardedFacts = {
  host: "myapp.local:8443",
  clientIp: "192.168.1.20",
  proto: "https",
  port: 8443,
  via: VIA,
};

function rewrite(init: Record<string, string>, upstreamHost = "myapp.local:8443", extra: Record<string, string> = {}) {
  return upstreamRequestHeaders(new Headers(init), facts, upstreamHost, extra);
}

/** Every value of `name`, in order. */
function all(pairs: [string, string][], name: string): string[] {
  return pairs.filter(([key]) => key === name).map(([, value]) => value);
}

describe("upstreamRequestHeaders", () => {
  test("drops the classic hop-by-hop headers and keeps end-to-end ones", () => {
    const out = rewrite({
      connection: "keep-alive",
      "proxy-connection": "keep-alive",
      "keep-alive": "timeout=5",
      te: "trailers",
      trailer: "x-checksum",
      "transfer-encoding": "chunked",
      upgrade: "h2c",
      "proxy-authenticate": "Basic",
      "proxy-authorization": "Basic Zm9vOmJhcg==",
      accept: "text/html",
      authorization: "Bearer token",
    });
    const names = out.map(([name]) => name);
    for (const hop of [
      "connection",
      "proxy-connection",
      "keep-alive",
      "te",
      "trailer",
      "transfer-encoding",
      "upgrade",
    ]) {
      expect(names).not.toContain(hop);
    }
    expect(names).not.toContain("proxy-authenticate");
    expect(names).not.toContain("proxy-authorization");
    expect(all(out, "accept")).toEqual(["text/html"]);
    expect(all(out, "authorization")).toEqual(["Bearer token"]);
  });

  test("drops Content-Length: framing is generated from the validated length, never copied", () => {
    const out = rewrite({ "content-length": "5, 5", accept: "*/*" });
    expect(all(out, "content-length")).toEqual([]);
    expect(all(out, "accept")).toEqual(["*/*"]);
  });

  test("drops every header the Connection header names, in any case and spacing", () => {
    const out = rewrite({ connection: "close, X-Secret ,x-other", "x-secret": "1", "x-other": "2", "x-kept": "3" });
    const names = out.map(([name]) => name);
    expect(names).not.toContain("x-secret");
    expect(names).not.toContain("x-other");
    expect(names).not.toContain("connection");
    expect(all(out, "x-kept")).toEqual(["3"]);
  });

  test("sets X-Forwarded-Proto/Host/Port and overrides what the client claimed", () => {
    const out = rewrite({ "x-forwarded-proto": "http", "x-forwarded-host": "evil.example", "x-forwarded-port": "1" });
    expect(all(out, "x-forwarded-proto")).toEqual(["https"]);
    expect(all(out, "x-forwarded-host")).toEqual(["myapp.local:8443"]);
    expect(all(out, "x-forwarded-port")).toEqual(["8443"]);
  });

  test("X-Forwarded-For is the client address, or appended to the chain the client sent", () => {
    expect(all(rewrite({}), "x-forwarded-for")).toEqual(["192.168.1.20"]);
    const chained = new Headers();
    chained.append("x-forwarded-for", "203.0.113.7");
    chained.append("x-forwarded-for", "10.0.0.1");
    const out = upstreamRequestHeaders(chained, facts, "h", {});
    expect(all(out, "x-forwarded-for")).toEqual(["203.0.113.7, 10.0.0.1, 192.168.1.20"]);
  });

  test("Via gets our token, appended to an existing chain", () => {
    expect(all(rewrite({}), "via")).toEqual([VIA]);
    expect(all(rewrite({ via: "1.1 corp-proxy" }), "via")).toEqual([`1.1 corp-proxy, ${VIA}`]);
  });

  test("Host is the one given: the client's (preserveHost) or the target's, never the incoming one too", () => {
    expect(all(rewrite({ host: "myapp.local:8443" }), "host")).toEqual(["myapp.local:8443"]);
    expect(all(rewrite({ host: "myapp.local:8443" }, "127.0.0.1:3000"), "host")).toEqual(["127.0.0.1:3000"]);
  });

  test("route headers are added with lowercased names", () => {
    const out = rewrite({ accept: "*/*" }, "h", { "X-Forwarded-Prefix": "/app", "x-team": "web" });
    expect(all(out, "x-forwarded-prefix")).toEqual(["/app"]);
    expect(all(out, "x-team")).toEqual(["web"]);
    expect(all(out, "accept")).toEqual(["*/*"]);
  });

  test("a route header replaces a same-named header instead of duplicating it (two Hosts are a 400)", () => {
    const out = rewrite({ "x-team": "client", accept: "*/*" }, "myapp.local", {
      Host: "api.internal",
      "X-Team": "web",
    });
    expect(all(out, "host")).toEqual(["api.internal"]);
    expect(all(out, "x-team")).toEqual(["web"]);
    expect(all(out, "accept")).toEqual(["*/*"]);
  });

  test("repeated request headers all reach the upstream", () => {
    const incoming = new Headers();
    incoming.append("x-dup", "1");
    incoming.append("x-dup", "2");
    incoming.append("cookie", "a=1");
    incoming.append("cookie", "b=2");
    const out = upstreamRequestHeaders(incoming, facts, "h", {});
    // Headers joins repeated fields (RFC 9110 §5.3; cookies with "; ", RFC 6265 §5.4): nothing is lost.
    expect(all(out, "x-dup").join(", ")).toBe("1, 2");
    expect(all(out, "cookie").join("; ")).toBe("a=1; b=2");
  });
});

describe("stripResponseHopHeaders", () => {
  test("a response without hop-by-hop headers is returned as is", () => {
    const response = new Response("ok", { headers: { "content-type": "text/plain" } });
    expect(stripResponseHopHeaders(response)).toBe(response);
  });

  test("removes hop-by-hop headers and those named in Connection, keeping status and body", async () => {
    const response = new Response("body", {
      status: 201,
      statusText: "Made",
      headers: {
        connection: "keep-alive, x-hop",
        "keep-alive": "timeout=5",
        "transfer-encoding": "chunked",
        "x-hop": "1",
        "x-end": "2",
      },
    });
    const out = stripResponseHopHeaders(response);
    expect([...out.headers.keys()].filter((name) => name !== "content-type")).toEqual(["x-end"]);
    expect([out.status, out.statusText, await out.text()]).toEqual([201, "Made", "body"]);
  });

  test("keeps every Set-Cookie as its own header", () => {
    const headers = new Headers({ connection: "keep-alive" });
    headers.append("set-cookie", "a=1; Path=/");
    headers.append("set-cookie", "b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT");
    const out = stripResponseHopHeaders(new Response(null, { headers }));
    expect(out.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT"]);
    expect(out.headers.has("connection")).toBe(false);
  });
});

describe("isLoop", () => {
  test("true only when our own token is in the Via chain", () => {
    expect(isLoop(new Headers(), VIA)).toBe(false);
    expect(isLoop(new Headers({ via: "1.1 corp-proxy" }), VIA)).toBe(false);
    expect(isLoop(new Headers({ via: `1.1 corp-proxy, ${VIA}` }), VIA)).toBe(true);
    expect(isLoop(new Headers({ via: "HTTP/1.1 gotunnel-0badf00d" }), VIA)).toBe(true);
  });

  test("another gotunnel instance's token is not a loop", () => {
    expect(isLoop(new Headers({ via: "1.1 gotunnel-12345678" }), VIA)).toBe(false);
  });
});
