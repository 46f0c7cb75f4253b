import { describe, expect, test } from "bun:test";
import { bindHostFor, isLanAllowed, isLanRoute, opensLan } from "../../src/mdns/lan.ts";

const config = (host: string, routes: { lan?: boolean }[], lan?: boolean) => ({ proxy: { host }, routes, lan });

describe("bindHostFor", () => {
  test("a LAN route widens the default loopback bind to every interface", () => {
    expect(bindHostFor(config("127.0.0.1", [{}]))).toBe("0.0.0.0");
    expect(bindHostFor(config("::1", [{ lan: true }], false))).toBe("0.0.0.0");
    expect(bindHostFor(config("localhost", [{}]))).toBe("0.0.0.0");
  });

  test("an address the user chose is kept when something is shared", () => {
    expect(bindHostFor(config("192.168.1.20", [{}]))).toBe("192.168.1.20");
    expect(bindHostFor(config("::", [{}]))).toBe("::");
  });

  test("with nothing shared, a wildcard bind narrows to loopback and loopback stays", () => {
    expect(bindHostFor(config("0.0.0.0", [{ lan: false }]))).toBe("127.0.0.1");
    expect(bindHostFor(config("::", [{}], false))).toBe("::1");
    expect(bindHostFor(config("127.0.0.1", []))).toBe("127.0.0.1");
    expect(bindHostFor(config("127.0.0.1", [{}, { lan: false }], false))).toBe("127.0.0.1");
  });
});

describe("isLanAllowed", () => {
  test("loopback clients may use every route, whatever it says", () => {
    for (const ip of ["127.0.0.1", "::1", "::ffff:127.0.0.1"]) expect(isLanAllowed({ lan: false }, ip)).toBe(true);
  });

  test("other clients follow the route's lan, then the global one, then the default (true)", () => {
    expect(isLanAllowed({ lan: false }, "192.168.1.50")).toBe(false);
    expect(isLanAllowed({ lan: true }, "::ffff:192.168.1.50", false)).toBe(true);
    expect(isLanAllowed({}, "fd00::50", false)).toBe(false);
    expect(isLanAllowed({}, "192.168.1.50")).toBe(true);
    expect(isLanAllowed(undefined, "192.168.1.50", false)).toBe(false);
    expect(isLanAllowed(undefined, "192.168.1.50")).toBe(true);
    expect(isLanRoute({}, undefined)).toBe(true);
  });
});

describe("opensLan", () => {
  test("a shared .local route opens the LAN by default; other names need an explicit lan: true", () => {
    expect(opensLan({ name: "myapp.local" })).toBe(true);
    expect(opensLan({ name: "*.app.LOCAL" })).toBe(true);
    expect(opensLan({ name: "myapp.localhost" })).toBe(false);
    expect(opensLan({ name: "myapp.test" })).toBe(false);
    expect(opensLan({ name: "myapp.test", lan: true })).toBe(true);
    expect(opensLan({ name: "myapp.test" }, true)).toBe(true);
  });

  test("an unshared route never opens it", () => {
    expect(opensLan({ name: "myapp.local", lan: false })).toBe(false);
    expect(opensLan({ name: "myapp.local" }, false)).toBe(false);
    expect(opensLan({ name: "myapp.local", lan: true }, false)).toBe(true);
  });
});
