import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadState, type RouteRecord, saveState, statePath } from "../../src/daemon/state.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "gotunnel-state-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const route: RouteRecord = {
  name: "api.local",
  wildcard: false,
  target: { protocol: "http:", hostname: "localhost", port: 8080, origin: "http://localhost:8080" },
  https: true,
  headers: {},
  preserveHost: true,
  owner: { kind: "command", cwd: "/home/me" },
  persistent: true,
  addedAt: "2026-11-24T00:00:00.000Z",
};

describe("state file", () => {
  test("routes with several backends round-trip; a file from before them (no targets) still loads", () => {
    const balanced: RouteRecord = {
      ...route,
      name: "lb.local",
      targets: [route.target, { ...route.target, port: 8081, origin: "http://localhost:8081" }],
      policy: "least_conn",
      health: { path: "/healthz", intervalMs: 5000 },
    };
    saveState(statePath(dir), [route, balanced]);
    expect(loadState(statePath(dir))).toEqual({ routes: [route, balanced] });
    // Byte for byte what gotunnel wrote before `targets` existed.
    const old = { version: 1, routes: [{ ...route }] };
    writeFileSync(statePath(dir), JSON.stringify(old));
    expect(loadState(statePath(dir))).toEqual({ routes: [route] });
  });

  test("a missing file is an empty state, without a warning", () => {
    expect(loadState(statePath(dir))).toEqual({ routes: [] });
  });

  test("saved routes load back identically, mode 0600, no temp file left", () => {
    const path = statePath(join(dir, "nested"));
    saveState(path, [route]);
    expect(loadState(path)).toEqual({ routes: [route] });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, "nested"))).toEqual(["routes.json"]);
  });

  test("corrupt JSON is moved aside with a warning, never silently emptied", () => {
    const path = statePath(dir);
    writeFileSync(path, '{"version":1,"routes":[{"name":');
    const loaded = loadState(path, new Date("2026-11-24T01:02:03.000Z"));
    expect(loaded.routes).toEqual([]);
    expect(loaded.warning).toContain("not valid JSON");
    const aside = `${path}.corrupt-2026-11-24T01-02-03-000Z`;
    expect(loaded.warning).toContain(aside);
    expect(readFileSync(aside, "utf8")).toBe('{"version":1,"routes":[{"name":');
    expect(existsSync(path)).toBe(false);
  });

  test("valid JSON of the wrong shape is moved aside and the warning names the field", () => {
    const path = statePath(dir);
    writeFileSync(path, JSON.stringify({ version: 1, routes: [{ ...route, target: "nope" }] }));
    const loaded = loadState(path);
    expect(loaded.routes).toEqual([]);
    expect(loaded.warning).toContain("routes.0.target");
  });
});
