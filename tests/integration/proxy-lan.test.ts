/**
 * The proxy's LAN hooks on real loopback sockets: the HTTP listener answers `httpPages` (device onboarding) for any
 * Host before the HTTPS redirect and the 404, and `isAllowed` turns requests from other machines to a `lan: false`
 * route into a 403. Loopback is all a test may use, so the guard sees a LAN address in place of the real one when a
 * test says so; it also records the address Bun really reported, which must be loopback.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { lanGuard } from "../../src/daemon/lan.ts";
import { fetchUpstream } from "../../src/proxy/fetch-upstream.ts";
import { ProxyServer } from "../../src/proxy/server.ts";
import { createTestCA, curl, route, startEchoUpstream, statusAndBody, type TestCA } from "../helpers/proxy.ts";

const LAN_CLIENT = "192.168.1.50";
let testCA: TestCA;
let echo: Server<undefined>;
let proxy: ProxyServer;
let pretendLan = false;
const seen: string[] = [];

beforeAll(async () => {
  testCA = await createTestCA();
  echo = startEchoUpstream();
  const routes = [route("shared.local", echo.port!, { lan: true }), route("private.local", echo.port!, { lan: false })];
  const guard = lanGuard(undefined);
  proxy = await ProxyServer.listen({
    host: "127.0.0.1",
    httpsPort: 0,
    httpPort: 0,
    routes,
    tls: await testCA.entriesFor(routes),
    upstream: fetchUpstream,
    httpPages: (req) => (new URL(req.url).pathname === "/_gotunnel/x" ? new Response("onboarding") : undefined),
    isAllowed: (matched, ip) => {
      seen.push(ip);
      return guard(matched, pretendLan ? LAN_CLIENT : ip);
    },
  });
});

afterAll(async () => {
  await proxy?.stop(true);
  echo?.stop(true);
  testCA?.cleanup();
});

const get = async (scheme: "http" | "https", name: string, path = "/") => {
  const port = scheme === "https" ? proxy.ports.https : proxy.ports.http;
  return statusAndBody(await curl(scheme, name, port, path, ["--cacert", testCA.caPath]));
};

describe("httpPages on the HTTP listener", () => {
  test("answers for any Host, before the HTTPS redirect and the 404", async () => {
    expect(await get("http", "shared.local", "/_gotunnel/x")).toEqual({ status: 200, body: "onboarding" });
    expect(await get("http", "unknown.example", "/_gotunnel/x")).toEqual({ status: 200, body: "onboarding" });
    expect((await get("http", "shared.local", "/other")).status).toBe(308);
  });

  test("is not served on the HTTPS listener: the path goes to the route's upstream", async () => {
    const forwarded = await get("https", "shared.local", "/_gotunnel/x");
    expect(forwarded.status).toBe(200);
    expect(forwarded.body).not.toBe("onboarding");
  });
});

describe("isAllowed", () => {
  test("loopback clients reach every route, and the guard sees Bun's real (loopback) address", async () => {
    pretendLan = false;
    seen.length = 0;
    expect((await get("https", "private.local")).status).toBe(200);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((ip) => ip === "127.0.0.1" || ip === "::ffff:127.0.0.1")).toBe(true);
  });

  test("a LAN client gets 403 naming the route and lan: false; shared routes and onboarding still work", async () => {
    pretendLan = true;
    try {
      const refused = await get("https", "private.local");
      expect(refused.status).toBe(403);
      expect(refused.body).toContain("private.local is not shared on the LAN (lan: false)");
      expect((await get("http", "private.local")).status).toBe(403);
      expect((await get("https", "shared.local")).status).toBe(200);
      expect((await get("http", "phone", "/_gotunnel/x")).status).toBe(200);
    } finally {
      pretendLan = false;
    }
  });
});
