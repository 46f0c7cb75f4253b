/**
 * A route change is a transaction (daemon/service.ts): a change the daemon cannot serve is refused whole, leaving the
 * state file, the listeners and the hosts file as they were; and a state file holding a route the daemon cannot serve
 * (hand-edited, or from another CA) never stops the daemon from starting: the route is skipped with the reason and
 * `gotunnel stop NAME` removes it. Checked on the compiled binary, with a real full file system for the disk case.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, binaryEnv, curl, hostsFileOf, run, runGotunnel, withEchoUpstream } from "../helpers/e2e.ts";

const PORTS = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };
const EXIT_TLS = 5;
const EXIT_IO = 8;

interface ListedRoute {
  name: string;
  url: string;
  status: string;
  problem?: { message: string; hint: string };
}

const file = withEchoUpstream();
const { scope } = file;

const gotunnel = (home: string, args: string[], cwd = home) => runGotunnel(args, { cwd, home, env: PORTS });

async function listed(home: string): Promise<ListedRoute[]> {
  const result = await gotunnel(home, ["list", "--json"]);
  expect(result.exitCode).toBe(0);
  return (JSON.parse(result.stdout) as { routes: ListedRoute[] }).routes;
}

const stateFile = (home: string) => join(home, "state", "routes.json");
const savedNames = (home: string) =>
  (JSON.parse(readFileSync(stateFile(home), "utf8")) as { routes: { name: string }[] }).routes.map((r) => r.name);
const hostsText = (home: string) => (existsSync(hostsFileOf(home)) ? readFileSync(hostsFileOf(home), "utf8") : "");

describe("a route the daemon cannot serve is refused whole", () => {
  test("start with a name outside the CA's scope exits 5 and leaves state, routes and hosts as they were", async () => {
    const home = scope.dir("home");
    const port = String(file.upstream.port);
    expect((await gotunnel(home, ["start", "-d", "api", "-p", port])).exitCode).toBe(0);
    const state = readFileSync(stateFile(home), "utf8");
    const hosts = hostsText(home);
    for (const name of ["myapp.dev", "google.com"]) {
      const refused = await gotunnel(home, ["start", "-d", name, "-p", port]);
      expect(refused.exitCode).toBe(EXIT_TLS);
      expect(refused.stderr).toContain(`Cannot serve "${name}" over HTTPS`);
    }
    expect(readFileSync(stateFile(home), "utf8")).toBe(state);
    expect(hostsText(home)).toBe(hosts);
    expect((await listed(home)).map((route) => route.name)).toEqual(["api.local"]);
    // The daemon keeps working, and starts again from its state file.
    expect((await gotunnel(home, ["start", "-d", "web", "-p", port])).exitCode).toBe(0);
    expect((await gotunnel(home, ["daemon", "stop"])).exitCode).toBe(0);
    expect((await gotunnel(home, ["start", "-d", "shop", "-p", port])).exitCode).toBe(0);
    expect((await listed(home)).map((route) => route.name)).toEqual(["api.local", "shop.local", "web.local"]);
  }, 60_000);

  test("up with one bad route among good ones adds none of them and leaves no ghost route", async () => {
    const home = scope.dir("home");
    const routes = { "fine.local": file.upstream.port, "myapp.dev": file.upstream.port };
    const project = scope.project({ "gotunnel.config.json": JSON.stringify({ routes }) });
    expect((await gotunnel(home, ["start", "-d", "api", "-p", String(file.upstream.port)])).exitCode).toBe(0);
    const up = await gotunnel(home, ["up", "--json"], project);
    expect(up.exitCode).toBe(EXIT_TLS);
    expect(JSON.parse(up.stdout).error.message).toContain('Cannot serve "myapp.dev"');
    expect((await listed(home)).map((route) => route.name)).toEqual(["api.local"]);
    expect(hostsText(home)).not.toContain("fine.local");
  }, 60_000);
});

describe("a state file holding routes the daemon cannot serve", () => {
  test("the daemon starts, skips them with the reason, serves the rest, and stop removes them", async () => {
    const home = scope.dir("home");
    const port = String(file.upstream.port);
    expect((await gotunnel(home, ["start", "-d", "api", "-p", port])).exitCode).toBe(0);
    expect((await gotunnel(home, ["daemon", "stop"])).exitCode).toBe(0);
    // As a hand edit (or a state file from a daemon with another CA) would leave it.
    const state = JSON.parse(readFileSync(stateFile(home), "utf8"));
    const [api] = state.routes;
    state.routes.push({ ...api, name: "myapp.dev" }, { ...api, name: "Bad Name" });
    writeFileSync(stateFile(home), JSON.stringify(state));

    const started = await gotunnel(home, ["start", "-d", "web", "-p", port, "--json"]);
    expect(started.exitCode).toBe(0);
    const routes = await listed(home);
    const byName = new Map(routes.map((route) => [route.name, route]));
    expect([...byName.keys()].sort()).toEqual(["Bad Name", "api.local", "myapp.dev", "web.local"]);
    expect(byName.get("myapp.dev")?.status).toBe("refused");
    expect(byName.get("myapp.dev")?.problem?.message).toContain("gotunnel's CA is limited to");
    expect(byName.get("myapp.dev")?.problem?.hint).toContain("gotunnel stop myapp.dev");
    expect(byName.get("Bad Name")?.problem?.hint).toContain("gotunnel stop 'Bad Name'");
    expect(readFileSync(join(home, "state", "daemon.log"), "utf8")).toContain(
      "the saved route myapp.dev is not served",
    );
    // The good routes are served, and only they are in the hosts file.
    const ca = JSON.parse(started.stdout.split("\n")[0] ?? "").ca.path as string;
    const url = byName.get("api.local")?.url ?? "";
    expect((await curl(`${url}/text`, { ca })).stdout).toBe("hello from upstream");
    expect(hostsText(home)).not.toContain("myapp.dev");
    // Readiness says which route is not served (degraded: every other route works).
    const health = await gotunnel(home, ["health", "--json"]);
    expect(JSON.parse(health.stdout).checks).toContainEqual(
      expect.objectContaining({ name: "route:myapp.dev", ok: false }),
    );

    // The human listing says why and how to remove it; stop removes it from the state file.
    expect((await gotunnel(home, ["list"])).stderr).toContain("myapp.dev is not served");
    expect((await gotunnel(home, ["stop", "myapp.dev"])).exitCode).toBe(0);
    expect((await gotunnel(home, ["stop", "Bad Name"])).exitCode).toBe(0);
    expect(savedNames(home).sort()).toEqual(["api.local", "web.local"]);
  }, 60_000);
});

describe.skipIf(Bun.which("mkfifo") === null)("a state file that is not a regular file", () => {
  test("a FIFO in place of routes.json is moved aside with a warning, and the daemon starts", async () => {
    const home = scope.dir("home");
    mkdirSync(join(home, "state"), { recursive: true, mode: 0o700 });
    expect((await run(["mkfifo", "-m", "600", stateFile(home)])).exitCode).toBe(0);
    const started = await gotunnel(home, ["start", "-d", "api", "-p", String(file.upstream.port)]);
    expect(started.stderr).toBe("");
    expect(started.exitCode).toBe(0);
    expect(readFileSync(join(home, "state", "daemon.log"), "utf8")).toMatch(
      /routes\.json could not be used \(not a regular file\); it was moved to \S+corrupt/,
    );
    expect(savedNames(home)).toEqual(["api.local"]);
  }, 60_000);
});

const canMountTmpfs = process.getuid?.() === 0 && Bun.which("unshare") !== null;

describe.skipIf(!canMountTmpfs)("a full file system", () => {
  /**
   * GOTUNNEL_HOME on a real 2 MiB tmpfs in a private mount namespace (so nothing leaks when the test dies). The daemon
   * starts with one route; a filler file then takes every free block, so the next route's state file cannot be
   * written. Every step runs inside the namespace; results come out through files in `out`.
   */
  test("start exits 8 naming the full file system and the state file, and neither list nor the state file shows the route", async () => {
    const home = scope.dir("home");
    const out = scope.dir("out");
    const env = binaryEnv(home, PORTS);
    const script = [
      "set -u",
      `mount -t tmpfs -o size=2m tmpfs "$GOTUNNEL_HOME"`,
      `"$BIN" start -d api -p "$UP" > "$OUT/first.txt" 2>&1; echo $? > "$OUT/first.code"`,
      `cp "$GOTUNNEL_HOME/state/routes.json" "$OUT/before.json"`,
      `head -c 4m /dev/zero > "$GOTUNNEL_HOME/filler" 2>/dev/null; true`,
      `"$BIN" start -d web -p "$UP" > "$OUT/full.txt" 2>&1; echo $? > "$OUT/full.code"`,
      `"$BIN" list --json > "$OUT/list.json" 2> "$OUT/list.err"`,
      `cp "$GOTUNNEL_HOME/state/routes.json" "$OUT/after.json"`,
      `"$BIN" daemon stop > /dev/null 2>&1`,
    ].join("\n");
    const result = await run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], {
      env: { ...env, BIN: BINARY, UP: String(file.upstream.port), OUT: out },
      timeoutMs: 60_000,
    });
    expect(result.stderr).toBe("");
    const read = (name: string) => readFileSync(join(out, name), "utf8");
    expect(read("first.code").trim()).toBe("0");
    expect(read("full.code").trim()).toBe(String(EXIT_IO));
    expect(read("full.txt")).toMatch(/is full \(ENOSPC.*could not write \S*routes\.json/);
    const names = (JSON.parse(read("list.json")) as { routes: ListedRoute[] }).routes.map((route) => route.name);
    expect(names).toEqual(["api.local"]);
    expect(read("after.json")).toBe(read("before.json"));
  }, 90_000);
});
