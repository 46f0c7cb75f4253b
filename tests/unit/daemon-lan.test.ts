import { describe, expect, test } from "bun:test";
import { resolveConfig } from "../../src/config/load.ts";
import { daemonBindHost, lanGuard, listenHosts, reachesLan, rebindMessage } from "../../src/daemon/lan.ts";
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

describe("daemon LAN binding follows the routes", () => {
  const bind = (host: string, routes: ProxyRoute[], lan?: boolean) =>
    daemonBindHost({ proxy: proxy(host), ...(lan === undefined ? {} : { lan }) }, routes);

  test("loopback while no route is shared; 0.0.0.0 once a .local route is", () => {
    expect(bind("127.0.0.1", [])).toBe("127.0.0.1");
    expect(bind("127.0.0.1", [route("myapp.local")])).toBe("0.0.0.0");
    expect(bind("127.0.0.1", [route("*.app.local")])).toBe("0.0.0.0");
    expect(bind("127.0.0.1", [route("a.localhost"), route("myapp.local")])).toBe("0.0.0.0");
  });

  test("a name mDNS cannot announce opens the LAN only with an explicit lan: true", () => {
    expect(bind("127.0.0.1", [route("a.localhost"), route("b.test")])).toBe("127.0.0.1");
    expect(bind("127.0.0.1", [route("b.test", true)])).toBe("0.0.0.0");
    expect(bind("127.0.0.1", [route("a.localhost")], true)).toBe("0.0.0.0");
  });

  test("lan: false on a route keeps it loopback; the daemon's global lan: false keeps every route loopback", () => {
    expect(bind("127.0.0.1", [route("myapp.local", false)])).toBe("127.0.0.1");
    expect(bind("127.0.0.1", [route("myapp.local")], false)).toBe("127.0.0.1");
    expect(bind("127.0.0.1", [route("myapp.local", true)], false)).toBe("127.0.0.1");
  });

  test("a proxy.host the user set is kept, except that lan: false narrows a wildcard to loopback", () => {
    expect(bind("0.0.0.0", [])).toBe("0.0.0.0");
    expect(bind("10.1.2.3", [route("a.localhost")])).toBe("10.1.2.3");
    expect(bind("10.1.2.3", [route("myapp.local")], true)).toBe("10.1.2.3");
    expect(bind("::1", [route("myapp.local")])).toBe("::1");
    expect(bind("0.0.0.0", [route("myapp.local")], false)).toBe("127.0.0.1");
    expect(bind("0.0.0.0", [route("myapp.local", true)], false)).toBe("127.0.0.1");
    expect(bind("10.1.2.3", [], false)).toBe("10.1.2.3");
  });

  test("reachesLan: only a non-loopback bind makes mDNS and the LAN policy matter", () => {
    expect(["127.0.0.1", "::1", "localhost"].map(reachesLan)).toEqual([false, false, false]);
    expect(["0.0.0.0", "10.1.2.3", "::"].map(reachesLan)).toEqual([true, true, true]);
  });

  test("a widened default keeps its loopback listener next to 0.0.0.0; any other bind is one address", () => {
    const hosts = (host: string, routes: ProxyRoute[], lan?: boolean) =>
      listenHosts({ proxy: proxy(host), ...(lan === undefined ? {} : { lan }) }, routes);
    expect(hosts("127.0.0.1", [route("myapp.local")])).toEqual(["127.0.0.1", "0.0.0.0"]);
    expect(hosts("127.0.0.1", [route("a.localhost")])).toEqual(["127.0.0.1"]);
    expect(hosts("0.0.0.0", [route("myapp.local")])).toEqual(["0.0.0.0"]);
    expect(hosts("0.0.0.0", [route("myapp.local")], false)).toEqual(["127.0.0.1"]);
    expect(hosts("10.1.2.3", [])).toEqual(["10.1.2.3"]);
  });

  test("::1 is listened on too while IPv4 loopback is served and this machine has IPv6 loopback", () => {
    const hosts = (host: string, routes: ProxyRoute[], loopbackV6 = true) =>
      listenHosts({ proxy: proxy(host) }, routes, loopbackV6);
    expect(hosts("127.0.0.1", [])).toEqual(["127.0.0.1", "::1"]);
    expect(hosts("127.0.0.1", [route("myapp.local")])).toEqual(["127.0.0.1", "0.0.0.0", "::1"]);
    expect(hosts("0.0.0.0", [])).toEqual(["0.0.0.0", "::1"]);
    // Already IPv6 (`::` takes IPv4 as well), or not loopback at all (the hosts block's 127.0.0.1 is not served).
    expect(hosts("::1", [])).toEqual(["::1"]);
    expect(hosts("::", [])).toEqual(["::"]);
    expect(hosts("10.1.2.3", [])).toEqual(["10.1.2.3"]);
    // No IPv6 loopback here (IPv6 turned off): nothing to bind.
    expect(hosts("127.0.0.1", [], false)).toEqual(["127.0.0.1"]);
  });

  test("a change of addresses is logged; a failed one as a warning naming where the proxy stays", () => {
    expect(rebindMessage(["127.0.0.1", "0.0.0.0"])).toEqual([
      "info",
      "listening on 127.0.0.1 and 0.0.0.0: a route is shared on the LAN",
    ]);
    expect(rebindMessage(["127.0.0.1"])[1]).toContain("no route is shared");
    expect(rebindMessage(["127.0.0.1"], new Error("EADDRINUSE"))).toEqual([
      "warn",
      "could not add a listener, still listening on 127.0.0.1: Error: EADDRINUSE",
    ]);
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
    // Refused with `lan` unset (nothing shared, on a wildcard listener: listen-plan.ts): no claim that it is false.
    const unset = await lanForbiddenPage(req, "w.localhost", route("w.localhost")).text();
    expect(unset).toContain("w.localhost is not shared on the LAN");
    expect(unset).not.toContain("lan: false");
    expect(unset).not.toContain("is false");
  });
});

describe("routes carry lan to the daemon", () => {
  test("the loader merges the global lan only when a layer sets it", () => {
    expect(resolveConfig({ routes: { a: 3000 } }, SOURCE).lan).toBeUndefined();
    expect(resolveConfig({ routes: { a: 3000 }, lan: false }, SOURCE).lan).toBe(false);
  });

  test("each wired route gets its own lan, else the global one, else none (the daemon's global applies)", () => {
    const config = resolveConfig({ routes: { a: 3000, b: { target: 3001, lan: false } }, lan: false }, SOURCE);
    expect(wireRoutes(config.routes, config.lan).map((r) => [r.name, r.lan])).toEqual([
      ["a.local", false],
      ["b.local", false],
    ]);
    const open = resolveConfig({ routes: { a: 3000, b: { target: 3001, lan: false } } }, SOURCE);
    const wired = wireRoutes(open.routes, open.lan);
    expect(wired.map((r) => [r.name, r.lan])).toEqual([
      ["a.local", undefined],
      ["b.local", false],
    ]);
    // Absent, not undefined: the daemon must tell a default from an explicit lan: true.
    expect("lan" in wired[0]!).toBe(false);
    const shared = resolveConfig({ routes: { a: 3000 }, lan: true }, SOURCE);
    expect(wireRoutes(shared.routes, shared.lan)[0]?.lan).toBe(true);
  });
});
