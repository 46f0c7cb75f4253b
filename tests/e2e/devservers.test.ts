/**
 * `gotunnel up` starting dev servers (routes with a `command`), on the compiled binary: each gets a free port and
 * the route's name, is reached over HTTPS by name, prints through `up` prefixed by its route, and leaves no process
 * behind however `up` ends (Ctrl-C, SIGTERM, `kill -9`, `gotunnel down`), checked in /proc down to the grandchildren
 * `npm run dev` starts and a grandchild that ignores SIGTERM. A command that exits is reported with its code and
 * last lines while the other routes keep serving.
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  BINARY,
  binaryEnv,
  curl,
  daemonPid,
  E2EScope,
  type Gotunnel,
  LineCollector,
  runGotunnel,
} from "../helpers/e2e.ts";
import { isLive, liveDescendants, liveWithMarker, untilEmpty } from "../helpers/proc-tree.ts";

const scope = new E2EScope();
afterAll(() => scope.dispose());

/** A dev server: answers with what it was given; /crash makes it exit 3; /spawn starts a child that ignores SIGTERM. */
const SERVER = `
import http from "node:http";
import { spawn } from "node:child_process";
const port = Number(process.env.PORT);
const name = process.argv[2];
console.log(name + " starting on " + port);
http.createServer((req, res) => {
  if (req.url === "/crash") {
    res.end("bye\\n");
    console.error(name + ": boom, exiting with 3");
    setTimeout(() => process.exit(3), 20);
    return;
  }
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ name, port, host: req.headers.host, allowed: process.env.__VITE_ADDITIONAL_SERVER_ALLOWED_HOSTS }));
}).listen(port, "127.0.0.1", () => {
  console.log(name + " listening");
  if (process.argv[3] === "stubborn") spawn(process.execPath, ["stubborn.mjs", name], { stdio: "ignore" });
});
`;
/** A grandchild that ignores SIGTERM, so only the SIGKILL after the grace time stops it. */
const STUBBORN = `process.on("SIGTERM", () => {}); setInterval(() => {}, 1000);`;

function devProject(marker: string, config: Record<string, unknown>): string {
  return scope.project({
    "server.mjs": SERVER,
    "stubborn.mjs": STUBBORN,
    "package.json": JSON.stringify({
      name: "devservers-e2e",
      private: true,
      scripts: { dev: `node server.mjs web-${marker} stubborn` },
    }),
    "gotunnel.config.json": JSON.stringify(config),
  });
}

/** Two dev routes: `npm run dev` (npm → sh → node → a stubborn grandchild) and an argv command; all carry `marker`. */
function twoRoutes(marker: string) {
  return {
    routes: {
      "web.local": { command: "npm run dev", env: { GOTUNNEL_TEST_MARKER: marker } },
      "api.local": { command: ["node", "server.mjs", `api-${marker}`], env: { GOTUNNEL_TEST_MARKER: marker } },
    },
  };
}

async function fetchJson(gotunnel: Gotunnel, name: string, path = "/") {
  const url = gotunnel.ready.routes.find((route) => route.name === name)?.url;
  if (!url) throw new Error(`no route ${name} in ${JSON.stringify(gotunnel.ready.routes)}`);
  const result = await curl(`${url}${path}`, { ca: gotunnel.caPath });
  return { status: result.status, body: result.stdout };
}

/** Every process of the session: those carrying the marker, and the guard (a child of `up`; the daemon is not ours). */
function sessionProcesses(gotunnel: Gotunnel, marker: string, home: string) {
  const daemon = daemonPid(home);
  return [...liveWithMarker(marker), ...liveDescendants(gotunnel.pid).filter((info) => info.pid !== daemon)];
}

/** Nothing with the marker, and none of the processes seen while `up` ran (its guard too), is alive (zombies aside). */
async function expectNothingLeft(marker: string, before: number[]) {
  const left = await untilEmpty(() => [
    ...liveWithMarker(marker).map((info) => `${info.pid} ${info.cmdline}`),
    ...before.filter(isLive).map((pid) => `${pid} (seen while up ran)`),
  ]);
  expect(left).toEqual([]);
}

describe("up starts each route's dev server", () => {
  test("free ports, the route's name allowed, HTTPS by name, output prefixed; Ctrl-C stops every process, a SIGTERM-proof grandchild too", async () => {
    const marker = `m${crypto.randomUUID().slice(0, 8)}`;
    const dir = devProject(marker, twoRoutes(marker));
    const home = scope.dir("home");
    const gotunnel = await scope.up(dir, home);
    for (const name of ["web.local", "api.local"]) {
      const { status, body } = await fetchJson(gotunnel, name);
      expect(status).toBe(200);
      const seen = JSON.parse(body) as { port: number; host: string; allowed: string };
      const target = gotunnel.ready.routes.find((route) => route.name === name)?.target;
      expect(target).toBe(`http://localhost:${seen.port}`);
      expect(seen.host).toBe(`${name}:${gotunnel.httpsPort}`);
      expect(seen.allowed).toBe(name);
    }
    // Whole lines, prefixed by the padded route name (NO_COLOR: plain). --json keeps them on stderr.
    await gotunnel.stderr.waitFor((line) => line === `web.local │ web-${marker} listening`, 10_000);
    expect(gotunnel.stderr.lines).toContain(`api.local │ api-${marker} listening`);
    // npm, its sh, node and the stubborn grandchild, the api's node, and the guard: the scan sees them all.
    const running = sessionProcesses(gotunnel, marker, home);
    expect(running.map((info) => info.cmdline).join("\n")).toContain("stubborn.mjs");
    expect(running.map((info) => info.cmdline).join("\n")).toContain("__process-guard");
    expect(running.length).toBeGreaterThanOrEqual(6);
    expect(await gotunnel.stop("SIGINT")).toBe(0);
    await expectNothingLeft(
      marker,
      running.map((info) => info.pid),
    );
  }, 60_000);

  test("kill -9 of up: the guard stops every group", async () => {
    const marker = `m${crypto.randomUUID().slice(0, 8)}`;
    const dir = devProject(marker, twoRoutes(marker));
    const home = scope.dir("home");
    const gotunnel = await scope.up(dir, home);
    expect((await fetchJson(gotunnel, "web.local")).status).toBe(200);
    const running = sessionProcesses(gotunnel, marker, home);
    expect(running.length).toBeGreaterThanOrEqual(6);
    // Only `up` itself: its children are in groups of their own and must be stopped by the guard.
    process.kill(gotunnel.pid, "SIGKILL");
    await gotunnel.proc.exited;
    await expectNothingLeft(
      marker,
      running.map((info) => info.pid),
    );
  }, 60_000);

  test("gotunnel down ends the session: up exits 0 and stops its dev servers", async () => {
    const marker = `m${crypto.randomUUID().slice(0, 8)}`;
    const dir = devProject(marker, twoRoutes(marker));
    const home = scope.dir("home");
    const gotunnel = await scope.up(dir, home);
    const running = sessionProcesses(gotunnel, marker, home);
    const down = await runGotunnel(["down"], { cwd: dir, home });
    expect(down.exitCode).toBe(0);
    expect(await gotunnel.exited()).toBe(0);
    await expectNothingLeft(
      marker,
      running.map((info) => info.pid),
    );
  }, 60_000);

  test("a command that exits is reported with its code and last lines; the other route keeps serving", async () => {
    const marker = `m${crypto.randomUUID().slice(0, 8)}`;
    const dir = devProject(marker, twoRoutes(marker));
    const gotunnel = await scope.up(dir, scope.dir("home"));
    expect((await fetchJson(gotunnel, "api.local", "/crash")).status).toBe(200);
    const exitLine = await gotunnel.stdout.waitFor((line) => line.includes('"event":"exit"'), 10_000);
    const exit = JSON.parse(exitLine) as { name: string; code: number; lastLines: string[] };
    expect(exit.name).toBe("api.local");
    expect(exit.code).toBe(3);
    expect(exit.lastLines).toContain(`api-${marker}: boom, exiting with 3`);
    const web = await fetchJson(gotunnel, "web.local");
    expect(web.status).toBe(200);
    expect(JSON.parse(web.body).name).toBe(`web-${marker}`);
    expect(await gotunnel.stop("SIGTERM")).toBe(0);
    await expectNothingLeft(marker, []);
  }, 60_000);
});

describe("up NAME -- CMD: no config file", () => {
  test("serves NAME.local from the command on a free port; SIGTERM leaves nothing", async () => {
    const marker = `m${crypto.randomUUID().slice(0, 8)}`;
    const dir = scope.project({ "server.mjs": SERVER, "stubborn.mjs": STUBBORN });
    const gotunnel = await scope.start(
      [
        "up",
        "solo",
        "--proxy-https-port",
        "0",
        "--proxy-http-port",
        "0",
        "--",
        "node",
        "server.mjs",
        `solo-${marker}`,
        "stubborn",
      ],
      { cwd: dir, home: scope.dir("home") },
    );
    expect(gotunnel.ready.routes.map((route) => route.name)).toEqual(["solo.local"]);
    const { status, body } = await fetchJson(gotunnel, "solo.local");
    expect(status).toBe(200);
    expect(JSON.parse(body)).toMatchObject({ name: `solo-${marker}`, allowed: "solo.local" });
    const running = liveWithMarker(marker);
    expect(running.length).toBeGreaterThanOrEqual(2);
    expect(await gotunnel.stop("SIGTERM")).toBe(0);
    await expectNothingLeft(
      marker,
      running.map((info) => info.pid),
    );
  }, 60_000);

  test("a command that exits before answering: exit 6 with its code and last lines, nothing left", async () => {
    const dir = scope.project({
      "fail.mjs": `console.log("loading config"); console.error("SyntaxError: bad config"); process.exit(2);`,
    });
    const result = await runGotunnel(
      ["up", "broken", "--proxy-https-port", "0", "--proxy-http-port", "0", "--", "node", "fail.mjs"],
      { cwd: dir, home: scope.dir("home") },
    );
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain("broken.local: `node fail.mjs` exited with code 2 before it answered on port");
    expect(result.stderr).toContain("    SyntaxError: bad config");
  }, 60_000);

  test("a command that never answers: exit 6 after the wait timeout, with its last lines", async () => {
    const marker = `m${crypto.randomUUID().slice(0, 8)}`;
    const dir = scope.project({ "idle.mjs": `console.log("compiling ${marker}…"); setInterval(() => {}, 1000);` });
    const result = await runGotunnel(
      [
        "up",
        "idle",
        "--wait-timeout",
        "2s",
        "--proxy-https-port",
        "0",
        "--proxy-http-port",
        "0",
        "--",
        "node",
        "idle.mjs",
        marker,
      ],
      { cwd: dir, home: scope.dir("home") },
    );
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toMatch(/idle\.local: `node idle\.mjs m\w+` did not answer on port \d+ within 2 s/);
    expect(result.stderr).toContain(`compiling ${marker}…`);
    expect(await untilEmpty(() => liveWithMarker(marker))).toEqual([]);
  }, 60_000);
});

describe("Ctrl-C while waiting for the dev servers", () => {
  test("stops them and exits 130, nothing left", async () => {
    const marker = `m${crypto.randomUUID().slice(0, 8)}`;
    const dir = scope.project({ "idle.mjs": `console.log("compiling ${marker}"); setInterval(() => {}, 1000);` });
    const home = scope.dir("home");
    const proc = Bun.spawn(
      [BINARY, "up", "idle", "--proxy-https-port", "0", "--proxy-http-port", "0", "--", "node", "idle.mjs", marker],
      { cwd: dir, env: binaryEnv(home), stdin: "ignore", stdout: "pipe", stderr: "pipe" },
    );
    scope.defer(() => proc.exitCode === null && proc.kill("SIGKILL"));
    const out = new LineCollector(proc.stdout);
    await out.waitFor((line) => line.includes(`compiling ${marker}`), 20_000);
    proc.kill("SIGINT");
    expect(await proc.exited).toBe(130);
    expect(await untilEmpty(() => liveWithMarker(marker))).toEqual([]);
  }, 60_000);
});

describe("run (CI mode) and --detach with command routes", () => {
  test("run refuses a command route with no port (it starts no dev servers): exit 3 naming the route", async () => {
    const dir = scope.project({
      "gotunnel.config.json": JSON.stringify({ routes: { "web.local": { command: "vite" } } }),
    });
    const result = await runGotunnel(["run", "--", "true"], { cwd: dir, home: scope.dir("home") });
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain("gotunnel run does not start dev servers, and web.local has no port");
  });

  test("up --detach refuses command routes: exit 2, nothing started", async () => {
    const marker = `m${crypto.randomUUID().slice(0, 8)}`;
    const dir = devProject(marker, twoRoutes(marker));
    const result = await runGotunnel(["up", "--detach", "--proxy-https-port", "0", "--proxy-http-port", "0"], {
      cwd: dir,
      home: scope.dir("home"),
    });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("--detach cannot leave web.local, api.local running");
    expect(liveWithMarker(marker)).toEqual([]);
  });
});
