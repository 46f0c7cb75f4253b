import { describe, expect, test } from "bun:test";
import { resolveConfig } from "../../src/config/load.ts";
import { daemonBindHost, lanGuard, reachesLan } from "../../src/daemon/lan.ts";
import { wireRoutes } from "../../src/daemon/session.ts";
import { lanForbiddenPage } from "../../src/proxy/pages.ts";
import type { ProxyRoute } from "../../src/proxy/router.ts";

const SOURCE = "/project/gotunnel.config.json";
const proxy = (host: string) => ({ host, httpsPort: 443, httpPort: 80 });
const route = (name: string, lan?: boolean): ProxyRoute => ({
  name,
  wildcard: false,
  target: { protocol: "http:", hostname: "localhost", port: 3000, origin: "http://localhost:3000" },
  https: true,
  headers: {},
  preserveHost: true,
  ...(lan === undefined ? {} : { lan }),
});

describe("daemon LAN binding is opt-in", () => {
  test("the loopback default stays loopback unless lan: true is set explicitly", () => {
    expect(daemonBindHost({ proxy: proxy("127.0.0.1") })).toBe("127.0.0.1");
    expect(daemonBindHost({ proxy: proxy("127.0.0.1"), lan: true })).toBe("0.0.0.0");
    expect(daemonBindHost({ proxy: proxy("127.0.0.1"), lan: false })).toBe("127.0.0.1");
  });

  test("an explicit proxy.host is kept, except that lan: false narrows a wildcard to loopback", () => {
    expect(daemonBindHost({ proxy: proxy("0.0.0.0") })).toBe("0.0.0.0");
    expect(daemonBindHost({ proxy: proxy("10.1.2.3"), lan: true })).toBe("10.1.2.3");
    expect(daemonBindHost({ proxy: proxy("0.0.0.0"), lan: false })).toBe("127.0.0.1");
  });

  test("reachesLan: only a non-loopback bind makes mDNS and the LAN policy matter", () => {
    expect(["127.0.0.1", "::1", "localhost"].map(reachesLan)).toEqual([false, false, false]);
    expect(["0.0.0.0", "10.1.2.3", "::"].map(reachesLan)).toEqual([true, true, true]);
  });
});

describe("LAN guard", () => {
  test("loopback clients may use every route; LAN clients only shared ones", () => {
    const guard = lanGuard(undefined);
    expect(guard(route("a.local", false), "127.0.0.1")).toBe(true);
    expect(guard(route("a.local", false), "::ffff:127.0.0.1")).toBe(true);
    expect(guard(route("a.local", false), "192.168.1.50")).toBe(false);
    expect(guard(route("b.local", true), "192.168.1.50")).toBe(true);
    expect(guard(route("c.local"), "192.168.1.50")).toBe(true);
    expect(lanGuard(false)(route("c.local"), "192.168.1.50")).toBe(false);
    expect(lanGuard(false)(undefined, "192.168.1.50")).toBe(false);
  });

  test("the 403 page names the route and its lan setting", async () => {
    const req = new Request("http://a.local/");
    const page = lanForbiddenPage(req, "a.local", route("a.local", false));
    expect(page.status).toBe(403);
    const text = await page.text();
    expect(text).toContain("a.local is not shared on the LAN (lan: false)");
    expect(text).toContain('routes["a.local"].lan');
    expect(await lanForbiddenPage(req, "x.local", undefined).text()).toContain("global `lan` setting is false");
  });
});

describe("routes carry lan to the daemon", () => {
  test("the loader merges the global lan only when a layer sets it", () => {
    expect(resolveConfig({ routes: { a: 3000 } }, SOURCE).lan).toBeUndefined();
    expect(resolveConfig({ routes: { a: 3000 }, lan: false }, SOURCE).lan).toBe(false);
  });

  test("each wired route gets its own lan, else the global one, else the default (true)", () => {
    const config = resolveConfig({ routes: { a: 3000, b: { target: 3001, lan: false } }, lan: false }, SOURCE);
    expect(wireRoutes(config.routes, config.lan).map((r) => [r.name, r.lan])).toEqual([
      ["a.local", false],
      ["b.local", false],
    ]);
    const open = resolveConfig({ routes: { a: 3000, b: { target: 3001, lan: false } } }, SOURCE);
    expect(wireRoutes(open.routes, open.lan).map((r) => [r.name, r.lan])).toEqual([
      ["a.local", true],
      ["b.local", false],
    ]);
  });
});
