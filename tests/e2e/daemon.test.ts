/**
 * One daemon for every terminal, through the compiled binary: `up` in a project, `start` from another terminal,
 * `list`, `status`, `stop`, `down`, `stop-all`, each checked against `list --json` and the (temp) hosts file. Then
 * crash recovery after `kill -9` of the daemon, and the control socket refusing another user.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  curl,
  daemonPid,
  freePort,
  hostsFileOf,
  run,
  runGotunnel,
  waitForExit,
  withEchoUpstream,
} from "../helpers/e2e.ts";
import { requireAll, requireRoot, requireTools } from "../helpers/tools.ts";

/** The socket test asks as `nobody` too, through runuser. */
const asNobody = requireAll(requireRoot("switch to the nobody user"), requireTools("runuser"));

const PORTS = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };

interface ListedRoute {
  name: string;
  url: string;
  owner: { kind: string; dir?: string; cwd?: string };
  persistent: boolean;
  status: string;
  requests: number;
}

const file = withEchoUpstream();
const { scope } = file;

async function gotunnel(home: string, args: string[], cwd = home) {
  const result = await runGotunnel(args, { cwd, home, env: PORTS });
  return result;
}

async function listed(home: string): Promise<ListedRoute[]> {
  const result = await gotunnel(home, ["list", "--json"]);
  expect(result.exitCode).toBe(0);
  return (JSON.parse(result.stdout) as { routes: ListedRoute[] }).routes;
}

function hostsNames(home: string): string[] {
  const path = hostsFileOf(home);
  if (!existsSync(path)) return [];
  const names = readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.startsWith("127.0.0.1 "))
    .map((line) => line.split(/\s+/)[1] ?? "");
  return names.filter((name) => name !== "localhost").sort();
}

describe("the three-terminal story", () => {
  test("up, start, list, status, stop, down, stop-all all talk to one daemon", async () => {
    const home = scope.dir("home");
    writeFileSync(hostsFileOf(home), "127.0.0.1 localhost\n# a line of the user's own\n");
    const shop = scope.project({
      "gotunnel.config.json": JSON.stringify({
        routes: { "shop.local": file.upstream.port, "admin.shop.local": file.upstream.port },
      }),
    });
    // terminal 1: up (starts the daemon) and streams its requests
    const up = await scope.start(["up"], { cwd: shop, home, env: PORTS });
    expect(up.ready.routes.map((route) => route.name).sort()).toEqual(["admin.shop.local", "shop.local"]);
    expect((await listed(home)).map((route) => [route.name, route.owner.kind, route.persistent])).toEqual([
      ["admin.shop.local", "project", false],
      ["shop.local", "project", false],
    ]);
    expect(hostsNames(home)).toEqual(["admin.shop.local", "shop.local"]);
    const daemon = daemonPid(home);
    expect(daemon).toBeDefined();

    // terminal 2: start adds a route to the same daemon and returns
    const start = await gotunnel(
      home,
      ["start", "-d", "api", "-p", String(file.upstream.port), "--json"],
      scope.dir("t2"),
    );
    expect(start.exitCode).toBe(0);
    const ready = JSON.parse(start.stdout.split("\n")[0] ?? "") as { ports: { https: number } };
    expect(ready.ports).toEqual(up.ready.ports);
    expect(daemonPid(home)).toBe(daemon);
    expect((await listed(home)).map((route) => route.name)).toEqual(["admin.shop.local", "api.local", "shop.local"]);
    expect(hostsNames(home)).toEqual(["admin.shop.local", "api.local", "shop.local"]);
    const served = await curl(`https://api.local:${up.httpsPort}/text`, { ca: up.caPath });
    expect(served.stdout).toBe("hello from upstream");

    // requests to up's routes stream to up, and list counts them
    await curl(`https://shop.local:${up.httpsPort}/text`, { ca: up.caPath });
    await up.stdout.waitFor((line) => line.includes('"host":"shop.local'), 10_000);
    expect(up.requestLog().map((event) => event.route)).toEqual(["shop.local"]);
    const counts = Object.fromEntries((await listed(home)).map((route) => [route.name, route.requests]));
    expect(counts).toEqual({ "admin.shop.local": 0, "api.local": 1, "shop.local": 1 });

    // terminal 3: status
    const status = await gotunnel(home, ["status", "--json"]);
    expect(status.exitCode).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      pid: daemon,
      ports: up.ready.ports,
      routes: 3,
      hosts: { path: hostsFileOf(home), names: ["admin.shop.local", "api.local", "shop.local"] },
    });

    // a name owned by another project is refused, naming the owner and --force
    const other = scope.project({ "gotunnel.config.json": JSON.stringify({ routes: { "shop.local": 1 } }) });
    const taken = await gotunnel(home, ["up", "--detach"], other);
    expect(taken.exitCode).toBe(2);
    expect(taken.stderr).toContain(`shop.local is already served for project ${shop}`);
    expect(taken.stderr).toContain("--force");

    // stop by short name
    expect((await gotunnel(home, ["stop", "api"])).exitCode).toBe(0);
    expect((await listed(home)).map((route) => route.name)).toEqual(["admin.shop.local", "shop.local"]);
    expect(hostsNames(home)).toEqual(["admin.shop.local", "shop.local"]);
    const unknown = await gotunnel(home, ["stop", "nope"]);
    expect(unknown.exitCode).toBe(2);

    // down in the project removes its routes, and the user's own hosts lines stay
    expect((await gotunnel(home, ["down"], shop)).exitCode).toBe(0);
    expect(await listed(home)).toEqual([]);
    expect(hostsNames(home)).toEqual([]);
    expect(readFileSync(hostsFileOf(home), "utf8")).toBe("127.0.0.1 localhost\n# a line of the user's own\n");

    // stop-all; list tells a dev server that is down from one that answers
    await gotunnel(home, ["start", "-d", "a", "-p", String(file.upstream.port)]);
    await gotunnel(home, ["start", "-d", "b", "-p", String(await freePort())]);
    expect((await listed(home)).map((route) => [route.name, route.status])).toEqual([
      ["a.local", "serving"],
      ["b.local", "upstream-down"],
    ]);
    expect((await gotunnel(home, ["stop-all"])).exitCode).toBe(0);
    expect(await listed(home)).toEqual([]);
    expect(await up.stop()).toBe(0);
  }, 60_000);

  test("a command asking for other ports than the running daemon's gets a clear error", async () => {
    const home = scope.dir("home");
    const start = await gotunnel(home, ["start", "-d", "api", "-p", String(file.upstream.port), "--json"]);
    expect(start.exitCode).toBe(0);
    const https = (JSON.parse(start.stdout) as { ports: { https: number } }).ports.https;
    const other = await runGotunnel(["start", "-d", "web", "-p", "3000", "--proxy-https-port", String(https + 1)], {
      cwd: home,
      home,
      env: { GOTUNNEL_PROXY_HTTP_PORT: "0" },
    });
    expect(other.exitCode).toBe(7);
    expect(other.stderr).toContain(`listens on HTTPS ${https}`);
    expect(other.stderr).toContain("gotunnel daemon stop");
  }, 30_000);

  test("five terminals starting at once share one daemon: the losers of the lock wait for the winner", async () => {
    const home = scope.dir("home");
    const names = ["c1", "c2", "c3", "c4", "c5"];
    const results = await Promise.all(
      names.map((name) => gotunnel(home, ["start", "-d", name, "-p", String(file.upstream.port)])),
    );
    expect(results.map((result) => result.exitCode)).toEqual([0, 0, 0, 0, 0]);
    expect((await listed(home)).map((route) => route.name)).toEqual(names.map((name) => `${name}.local`));
    expect(hostsNames(home)).toEqual(names.map((name) => `${name}.local`));
  }, 60_000);

  test("without a daemon, list and status exit 7 and say how to start one", async () => {
    const home = scope.dir("home");
    const result = await gotunnel(home, ["list"]);
    expect(result.exitCode).toBe(7);
    expect(result.stderr).toContain("daemon is not running");
  });
});

describe("crash recovery", () => {
  test("after kill -9 of the daemon, the next start repairs the hosts block and the routes", async () => {
    const home = scope.dir("home");
    const shop = scope.project({
      "gotunnel.config.json": JSON.stringify({ routes: { "shop.local": file.upstream.port } }),
    });
    expect((await gotunnel(home, ["start", "-d", "api", "-p", String(file.upstream.port)])).exitCode).toBe(0);
    const up = await scope.start(["up"], { cwd: shop, home, env: PORTS });
    expect(hostsNames(home)).toEqual(["api.local", "shop.local"]);
    const pid = daemonPid(home) ?? 0;
    process.kill(pid, "SIGKILL");
    expect(await waitForExit(pid)).toBe(true);
    await up.exited();
    // The dead daemon could not clean up: its hosts block still names the session's route.
    expect(hostsNames(home)).toEqual(["api.local", "shop.local"]);
    const list = await gotunnel(home, ["list", "--json"]);
    expect(list.exitCode).toBe(7);
    // The next start: the persistent route is back, the dead session's route is gone, from both places.
    expect((await gotunnel(home, ["start", "-d", "web", "-p", String(file.upstream.port)])).exitCode).toBe(0);
    expect((await listed(home)).map((route) => route.name)).toEqual(["api.local", "web.local"]);
    expect(hostsNames(home)).toEqual(["api.local", "web.local"]);
    const https = (await listed(home))[0]?.url ?? "";
    const served = await curl(`${https}/text`, { ca: up.caPath });
    expect(served.stdout).toBe("hello from upstream");
  }, 60_000);

  test("a corrupt state file is moved aside with a warning, and the daemon starts empty", async () => {
    const home = scope.dir("home");
    expect((await gotunnel(home, ["start", "-d", "api", "-p", String(file.upstream.port)])).exitCode).toBe(0);
    expect((await gotunnel(home, ["daemon", "stop"])).exitCode).toBe(0);
    writeFileSync(join(home, "state", "routes.json"), "{ not json");
    expect((await gotunnel(home, ["start", "-d", "web", "-p", String(file.upstream.port)])).exitCode).toBe(0);
    expect((await listed(home)).map((route) => route.name)).toEqual(["web.local"]);
    expect(readFileSync(join(home, "state", "daemon.log"), "utf8")).toContain("moved to");
  }, 60_000);
});

describe("the control socket", () => {
  test.skipIf(asNobody.skip)(
    asNobody.title("is 0600 in a 0700 directory, and another user cannot talk to it"),
    async () => {
      const home = scope.dir("home");
      expect((await gotunnel(home, ["start", "-d", "api", "-p", String(file.upstream.port)])).exitCode).toBe(0);
      // The home itself is searchable by anyone here, so only run/ (0700) and the socket (0600) keep `nobody` out.
      chmodSync(home, 0o755);
      const socket = join(home, "run", "control.sock");
      expect(statSync(socket).mode & 0o777).toBe(0o600);
      expect(statSync(join(home, "run")).mode & 0o777).toBe(0o700);
      const asRoot = await run(["curl", "-sS", "--unix-socket", socket, "http://x/v1/status"]);
      expect(JSON.parse(asRoot.stdout)).toMatchObject({ pid: daemonPid(home) });
      const asNobody = await run([
        "runuser",
        "-u",
        "nobody",
        "--",
        "curl",
        "-sS",
        "--unix-socket",
        socket,
        "http://x/v1/status",
      ]);
      expect(asNobody.exitCode).not.toBe(0);
      expect(asNobody.stdout).toBe("");
    },
    30_000,
  );
});
