import { describe, expect, test } from "bun:test";
import { wantedRoutes } from "../../src/daemon/discovered-routes.ts";
import type { ContainerSummary } from "../../src/docker/engine.ts";

const NOW = new Date("2026-12-06T00:00:00.000Z");
const container = (id: string, label: string, created = 100): ContainerSummary => ({
  id,
  name: `c-${id}`,
  created,
  labels: { "gotunnel.route": label },
  ports: [{ ip: "127.0.0.1", privatePort: 8080, publicPort: 40000 + created, protocol: "tcp" }],
});
const nobody = () => false;

describe("the routes labelled containers ask for", () => {
  test("a route per container, to its published port, owned by the container, never persisted", () => {
    const { routes, problems } = wantedRoutes([container("aaa111", "Web")], "127.0.0.1", nobody, NOW);
    expect(problems).toEqual([]);
    expect([...routes.values()]).toEqual([
      {
        name: "web.local",
        wildcard: false,
        target: { protocol: "http:", hostname: "127.0.0.1", port: 40100, origin: "http://127.0.0.1:40100" },
        https: true,
        headers: {},
        preserveHost: true,
        owner: { kind: "docker", container: "c-aaa111", id: "aaa111" },
        persistent: false,
        addedAt: NOW.toISOString(),
      },
    ]);
  });

  test("a label that is no route name is a problem naming the container and the label", () => {
    const { routes, problems } = wantedRoutes([container("bbb222", "bad_name!.local")], "127.0.0.1", nobody);
    expect(routes.size).toBe(0);
    expect(problems.map((problem) => problem.message)).toEqual([
      expect.stringMatching(
        /^container c-bbb222 \(bbb222\) has the label gotunnel\.route="bad_name!\.local", which is not a route name: .*; it gets no route$/,
      ),
    ]);
  });

  test("one name, two containers: the holder keeps it, else the one created first; the other is a problem", () => {
    const older = container("zzz", "web.local", 100);
    const newer = container("aaa", "web.local", 200);
    const first = wantedRoutes([newer, older], "127.0.0.1", nobody);
    expect(first.routes.get("web.local")?.owner).toMatchObject({ id: "zzz" });
    expect(first.problems.map((problem) => problem.message)).toEqual([
      "container c-aaa (aaa) has gotunnel.route=web.local too; the route stays with container c-zzz (zzz)",
    ]);
    const held = wantedRoutes([newer, older], "127.0.0.1", (id) => id === "aaa");
    expect(held.routes.get("web.local")?.owner).toMatchObject({ id: "aaa" });
  });

  test("an IPv6-only published port gets a bracketed origin", () => {
    const v6 = {
      ...container("ccc", "v6.local"),
      ports: [{ ip: "::1", privatePort: 80, publicPort: 40001, protocol: "tcp" }],
    };
    expect(wantedRoutes([v6], "127.0.0.1", nobody).routes.get("v6.local")?.target).toEqual({
      protocol: "http:",
      hostname: "::1",
      port: 40001,
      origin: "http://[::1]:40001",
    });
  });
});
