/** Route fields for dev servers gotunnel starts (config/dev-server.ts through the schema and the loader). */
import { describe, expect, test } from "bun:test";
import { resolveConfig } from "../../src/config/load.ts";
import { UNASSIGNED_PORT } from "../../src/config/schema.ts";
import { isGotunnelError } from "../../src/core/errors.ts";

const routeOf = (route: unknown) => resolveConfig({ routes: { shop: route } }, "test")?.routes[0];

function problems(route: unknown): string[] {
  try {
    resolveConfig({ routes: { shop: route } }, "test");
  } catch (error) {
    if (isGotunnelError(error)) return (error.details?.issues as string[]) ?? [];
    throw error;
  }
  return [];
}

describe("command routes", () => {
  test("a command alone: the port is picked later, cwd defaults to the config's directory", () => {
    const route = routeOf({ command: "npm run dev" });
    expect(route?.target.port).toBe(UNASSIGNED_PORT);
    expect(route?.dev).toEqual({ command: "npm run dev", cwd: process.cwd(), env: {} });
  });

  test("port, env, an argv command, a relative cwd and a wait timeout", () => {
    const route = routeOf({ command: ["vite", "--open"], cwd: "web", env: { A: "1" }, port: 5173, waitTimeout: "2m" });
    expect(route?.target.origin).toBe("http://localhost:5173");
    expect(route?.dev).toEqual({
      command: ["vite", "--open"],
      cwd: `${process.cwd()}/web`,
      env: { A: "1" },
      port: 5173,
      waitTimeoutMs: 120_000,
    });
  });

  test("a command with a full target URL: that URL is the upstream, its port the dev server's", () => {
    const route = routeOf({ command: "bin/dev", target: "https://localhost:8443" });
    expect(route?.target.origin).toBe("https://localhost:8443");
    expect(route?.dev?.port).toBe(8443);
  });

  test.each<[string, unknown, string]>([
    ["neither target nor command", {}, "test: routes.shop.target: is required: a port or a URL"],
    ["port and target", { command: "x", target: 3000, port: 3001 }, "routes.shop.port: give `port`"],
    [
      "port without command",
      { target: 3000, port: 3001 },
      "routes.shop.port: only applies to a route with a `command`",
    ],
    ["env without command", { target: 3000, env: {} }, "routes.shop.env: only applies to a route with a `command`"],
    ["an empty command", { command: " " }, "routes.shop.command: expected a command line"],
    ["an empty argv", { command: [] }, "routes.shop.command: expected a command line"],
    ["a number in env", { command: "x", env: { A: 1 } }, "routes.shop.env.A: expected a string value (quote numbers)"],
    ["a bad wait", { command: "x", waitTimeout: "soon" }, "routes.shop.waitTimeout: expected a duration"],
    [
      "a port out of range",
      { command: "x", port: 70000 },
      "routes.shop.port: expected an integer port from 1 to 65535",
    ],
    [
      "a relative rewriteOrigin",
      { target: 3000, rewriteOrigin: ["_next"] },
      'routes.shop.rewriteOrigin["0"]: expected',
    ],
  ])("%s is refused, naming the field", (_what, route, expected) => {
    expect(problems(route).join("\n")).toContain(expected);
  });

  test("rewriteOrigin is kept on any route", () => {
    expect(routeOf({ target: 3000, rewriteOrigin: ["/_next/"] })?.rewriteOrigin).toEqual(["/_next/"]);
    expect(routeOf({ target: 3000 })?.rewriteOrigin).toBeUndefined();
  });
});
