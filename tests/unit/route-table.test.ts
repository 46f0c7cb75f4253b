import { describe, expect, test } from "bun:test";
import type { AddRoutesRequest } from "../../src/daemon/control/protocol.ts";
import { fullName, RouteTable } from "../../src/daemon/routes.ts";

const route = (name: string): AddRoutesRequest["routes"][number] => ({
  name,
  wildcard: false,
  target: { protocol: "http:", hostname: "localhost", port: 3000, origin: "http://localhost:3000" },
  https: true,
  headers: {},
  preserveHost: true,
});
const shop = { kind: "project", dir: "/home/me/shop" } as const;
const blog = { kind: "project", dir: "/home/me/blog" } as const;
const terminal = { kind: "command", cwd: "/home/me" } as const;

describe("route table", () => {
  test("a name owned by another project is refused, naming the owner and --force", () => {
    const table = new RouteTable();
    table.add({ routes: [route("shop.local")], owner: shop, persistent: false, force: false }, "s1");
    expect(() => table.add({ routes: [route("shop.local")], owner: blog, persistent: false, force: false })).toThrow(
      "shop.local is already served for project /home/me/shop",
    );
    expect(table.list().map((record) => record.owner)).toEqual([shop]);
  });

  test("--force takes a name over, and the old session's end no longer removes it", () => {
    const table = new RouteTable();
    table.add({ routes: [route("shop.local")], owner: shop, persistent: false, force: false }, "s1");
    table.add({ routes: [route("shop.local")], owner: terminal, persistent: true, force: true });
    expect(table.endSession("s1")).toEqual([]);
    expect(table.persisted().map((record) => record.owner)).toEqual([terminal]);
  });

  test("a session's end removes exactly its routes; only persistent routes are persisted", () => {
    const table = new RouteTable();
    table.add({ routes: [route("a.local"), route("b.local")], owner: shop, persistent: false, force: false }, "s1");
    table.add({ routes: [route("api.local")], owner: terminal, persistent: true, force: false });
    expect(table.persisted().map((record) => record.name)).toEqual(["api.local"]);
    expect(table.endSession("s1")).toEqual(["a.local", "b.local"]);
    expect(table.list().map((record) => record.name)).toEqual(["api.local"]);
  });

  test("remove by short name, by owner, or all", () => {
    const table = new RouteTable();
    table.add({ routes: [route("api.local"), route("web.local")], owner: terminal, persistent: true, force: false });
    table.add({ routes: [route("shop.local")], owner: shop, persistent: true, force: false });
    expect(table.remove({ names: ["api"] })).toEqual(["api.local"]);
    expect(table.remove({ owner: shop })).toEqual(["shop.local"]);
    expect(table.remove({ all: true })).toEqual(["web.local"]);
    expect(fullName("API")).toBe("api.local");
    expect(fullName("api.test")).toBe("api.test");
  });
});
