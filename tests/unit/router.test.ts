/** Host → route lookup: exact names, wildcards, and the shapes a Host header or SNI value really arrives in. */
import { describe, expect, test } from "bun:test";
import { normalizeHost, Router, routeUrl } from "../../src/proxy/router.ts";
import { route } from "../helpers/proxy.ts";

const exact = route("myapp.local", 3000);
const apiExact = route("api.app.local", 3001);
const appWildcard = route("*.app.local", 3002);
const deepWildcard = route("*.a.app.local", 3003);
const router = new Router([appWildcard, exact, deepWildcard, apiExact]);

function target(host: string | null): string | undefined {
  return router.match(host)?.name;
}

describe("Router.match", () => {
  test("an exact name matches itself and nothing around it", () => {
    expect(target("myapp.local")).toBe("myapp.local");
    expect(target("x.myapp.local")).toBeUndefined();
    expect(target("yapp.local")).toBeUndefined();
  });

  test("*.app.local matches one label, several labels, and the bare app.local", () => {
    expect(target("b.app.local")).toBe("*.app.local");
    expect(target("c.b.app.local")).toBe("*.app.local");
    expect(target("app.local")).toBe("*.app.local");
  });

  test("on its own, *.app.local matches a.app.local, b.a.app.local and app.local", () => {
    const only = new Router([appWildcard]);
    for (const host of ["a.app.local", "b.a.app.local", "app.local"]) expect(only.match(host)).toBe(appWildcard);
  });

  test("a wildcard suffix match needs a label boundary", () => {
    expect(target("xapp.local")).toBeUndefined();
    expect(target("app.local.evil")).toBeUndefined();
    expect(target("local")).toBeUndefined();
  });

  test("the longest matching wildcard wins, whatever the order of the routes", () => {
    expect(target("a.app.local")).toBe("*.a.app.local");
    expect(target("b.a.app.local")).toBe("*.a.app.local");
    const reversed = new Router([deepWildcard, appWildcard]);
    expect(reversed.match("x.a.app.local")?.name).toBe("*.a.app.local");
    expect(reversed.match("x.app.local")?.name).toBe("*.app.local");
  });

  test("an exact name beats a wildcard that also covers it", () => {
    expect(target("api.app.local")).toBe("api.app.local");
    expect(target("v2.api.app.local")).toBe("*.app.local");
  });

  test("the Host header's port is ignored", () => {
    expect(target("myapp.local:8443")).toBe("myapp.local");
    expect(target("b.app.local:443")).toBe("*.app.local");
  });

  test("upper case and a trailing dot (absolute name) still match", () => {
    expect(target("MyApp.LOCAL")).toBe("myapp.local");
    expect(target("myapp.local.")).toBe("myapp.local");
    expect(target("MYAPP.local.:8443")).toBe("myapp.local");
    expect(target("B.App.Local.")).toBe("*.app.local");
  });

  test("null and empty hosts match nothing", () => {
    expect(target(null)).toBeUndefined();
    expect(target("")).toBeUndefined();
    expect(target(":443")).toBeUndefined();
  });

  test("a wildcard route named without its `*.` still covers subdomains and itself", () => {
    const bare = new Router([{ ...route("dev.local", 3000), wildcard: true }]);
    expect(bare.match("x.dev.local")?.name).toBe("dev.local");
    expect(bare.match("dev.local")?.name).toBe("dev.local");
    expect(bare.match("xdev.local")).toBeUndefined();
  });

  test("IPv6 literals in brackets are looked up by the bracketed address", () => {
    const v6 = new Router([route("[::1]", 3000)]);
    expect(v6.match("[::1]:443")?.name).toBe("[::1]");
    expect(v6.match("[::1]")?.name).toBe("[::1]");
    expect(router.match("[::1]:443")).toBeUndefined();
  });

  test("an empty router matches nothing and exposes its routes", () => {
    expect(new Router([]).match("myapp.local")).toBeUndefined();
    expect(router.routes).toHaveLength(4);
  });
});

describe("normalizeHost", () => {
  test.each([
    ["myapp.local", "myapp.local"],
    ["MyApp.Local:3000", "myapp.local"],
    ["myapp.local.", "myapp.local"],
    ["myapp.local.:443", "myapp.local"],
    ["[::1]:443", "[::1]"],
    ["[::1]", "[::1]"],
    ["[FE80::1]:8443", "[fe80::1]"],
    ["127.0.0.1:8443", "127.0.0.1"],
  ])("%p → %p", (input, expected) => {
    expect(normalizeHost(input)).toBe(expected);
  });
});

describe("routeUrl", () => {
  test("omits the scheme's default port and strips a wildcard's `*.`", () => {
    expect(routeUrl(exact, { http: 80, https: 443 })).toBe("https://myapp.local");
    expect(routeUrl(exact, { http: 8080, https: 8443 })).toBe("https://myapp.local:8443");
    expect(routeUrl(appWildcard, { http: 80, https: 443 })).toBe("https://app.local");
  });

  test("an `https: false` route is an http:// URL on the HTTP port", () => {
    const plain = route("plain.local", 3000, { https: false });
    expect(routeUrl(plain, { http: 80, https: 443 })).toBe("http://plain.local");
    expect(routeUrl(plain, { http: 8080, https: 443 })).toBe("http://plain.local:8080");
  });
});
