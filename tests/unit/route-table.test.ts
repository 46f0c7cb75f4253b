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

describe("discovered routes", () => {
  const container = { kind: "docker", container: "web", id: "3f5cada22e43aa" } as const;
  const discovered = (name: string) => ({
    ...route(name),
    owner: container,
    persistent: false,
    addedAt: "2026-12-06T00:00:00.000Z",
  });

  test("are served and listed but never persisted, and a clone carries them without making them users' routes", () => {
    const table = new RouteTable();
    table.discover("web.local", discovered("web.local"));
    table.add({ routes: [route("api.local")], owner: terminal, persistent: true, force: false });
    expect(table.served().map((record) => record.name)).toEqual(["api.local", "web.local"]);
    expect(table.persisted().map((record) => record.name)).toEqual(["api.local"]);
    const copy = table.clone();
    copy.discover("web.local", undefined);
    expect(copy.list().map((record) => record.name)).toEqual(["api.local"]);
    expect(table.list().map((record) => record.name)).toEqual(["api.local", "web.local"]);
  });

  test("a user's route of the same name wins without --force, and the discovered one is back once it goes", () => {
    const table = new RouteTable();
    table.discover("web.local", discovered("web.local"));
    table.add({ routes: [route("web.local")], owner: terminal, persistent: true, force: false });
    expect(table.served().map((record) => record.owner)).toEqual([terminal]);
    expect(table.shadowed().map(({ discovered, user }) => [discovered.owner, user.owner])).toEqual([
      [container, terminal],
    ]);
    expect(table.remove({ names: ["web.local"] })).toEqual(["web.local"]);
    expect(table.served().map((record) => record.owner)).toEqual([container]);
    expect(table.shadowed()).toEqual([]);
  });

  test("stopping one by name is refused with how it goes; stop-all and a project's down leave them", () => {
    const table = new RouteTable();
    table.discover("web.local", discovered("web.local"));
    expect(() => table.remove({ names: ["web"] })).toThrow(
      "web.local is discovered from container web (3f5cada22e43), not a route of yours",
    );
    expect(table.remove({ all: true })).toEqual([]);
    expect(table.remove({ owner: shop })).toEqual([]);
    expect(table.list().map((record) => record.name)).toEqual(["web.local"]);
  });
});
