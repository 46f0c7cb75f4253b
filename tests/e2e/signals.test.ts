/**
 * Stopping things. `up` is a session of the daemon: Ctrl-C (SIGINT to its process group, as a terminal sends it)
 * and SIGTERM both end it with exit 0 and remove its routes, while the daemon keeps serving. SIGTERM to the daemon
 * (as a service manager sends it) lets in-flight requests finish, removes its hosts entries, releases both ports
 * and exits 0, so the next daemon can bind them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Subprocess } from "bun";
import {
  BINARY,
  binaryEnv,
  canBind,
  curl,
  daemonPid,
  E2EScope,
  type Gotunnel,
  hostsFileOf,
  LineCollector,
  requireBinary,
  runGotunnel,
  waitForExit,
} from "../helpers/e2e.ts";
import { startEchoUpstream, startSseUpstream, type Upstream } from "../helpers/upstreams.ts";

/** Well inside the daemon's 5 s shutdown grace (src/daemon/daemon.ts SHUTDOWN_GRACE_MS). */
const IN_FLIGHT_SILENCE_MS = 1_000;

const scope = new E2EScope();
let upstream: Upstream;
let project = "";

beforeAll(() => {
  requireBinary();
  upstream = startEchoUpstream();
  scope.defer(upstream.stop);
  project = scope.project({ "gotunnel.config.json": JSON.stringify({ routes: { "myapp.local": upstream.port } }) });
});

afterAll(() => scope.dispose());

/** The hosts file is rewritten right after the route table changes: wait (bounded) for it to drop `name`. */
async function hostsDrops(home: string, name: string): Promise<string> {
  const deadline = Date.now() + 5_000;
  let text = readFileSync(hostsFileOf(home), "utf8");
  while (text.includes(name) && Date.now() < deadline) {
    await Bun.sleep(50);
    text = readFileSync(hostsFileOf(home), "utf8");
  }
  return text;
}

async function routeNames(home: string): Promise<string[]> {
  const result = await runGotunnel(["list", "--json"], { cwd: home, home });
  expect(result.exitCode).toBe(0);
  return (JSON.parse(result.stdout) as { routes: { name: string }[] }).routes.map((route) => route.name);
}

/** Starts `up` and proves it serves, leaving curl's keep-alive connection closed. */
async function serving(home: string): Promise<Gotunnel> {
  const gotunnel = await scope.up(project, home);
  const response = await curl(`https://myapp.local:${gotunnel.httpsPort}/text`, { ca: gotunnel.caPath });
  expect(response.status).toBe(200);
  expect(await routeNames(home)).toEqual(["myapp.local"]);
  expect(readFileSync(hostsFileOf(home), "utf8")).toContain("127.0.0.1 myapp.local");
  return gotunnel;
}

/** `gotunnel daemon` in the foreground, so the test owns its exit code; resolves once its socket answers. */
async function foregroundDaemon(home: string, ports: string[] = ["0", "0"]): Promise<Subprocess> {
  const args = ["daemon", "--proxy-https-port", ports[0] ?? "0", "--proxy-http-port", ports[1] ?? "0"];
  const daemon = Bun.spawn([BINARY, ...args], { env: binaryEnv(home), cwd: home, stdio: ["ignore", "pipe", "pipe"] });
  scope.defer(() => daemon.kill("SIGKILL"));
  // consola writes info lines to stdout.
  const stdout = new LineCollector(daemon.stdout);
  await stdout.waitFor((line) => line.includes("ready"), 20_000);
  return daemon;
}

describe("ending an `up` session", () => {
  test("Ctrl-C (SIGINT to its process group) exits 0 and removes its routes; the daemon keeps its ports", async () => {
    const home = scope.dir("home");
    const gotunnel = await serving(home);
    process.kill(-gotunnel.pid, "SIGINT");
    expect(await gotunnel.exited()).toBe(0);
    expect(gotunnel.proc.signalCode).toBeNull();
    expect(await routeNames(home)).toEqual([]);
    expect(await hostsDrops(home, "myapp.local")).not.toContain("myapp.local");
    expect(canBind(gotunnel.httpsPort)).toBe(false);
  }, 30_000);

  test("SIGTERM exits 0 and removes its routes", async () => {
    const home = scope.dir("home");
    const gotunnel = await serving(home);
    expect(await gotunnel.stop("SIGTERM")).toBe(0);
    expect(gotunnel.proc.signalCode).toBeNull();
    expect(await routeNames(home)).toEqual([]);
  }, 30_000);

  test("SIGKILL removes its routes too: the daemon sees its session stream close", async () => {
    const home = scope.dir("home");
    const gotunnel = await serving(home);
    gotunnel.proc.kill("SIGKILL");
    await gotunnel.proc.exited;
    const deadline = Date.now() + 5_000;
    while ((await routeNames(home)).length > 0 && Date.now() < deadline) await Bun.sleep(100);
    expect(await routeNames(home)).toEqual([]);
    expect(await hostsDrops(home, "myapp.local")).not.toContain("myapp.local");
  }, 30_000);
});

describe("stopping the daemon", () => {
  test("SIGTERM exits 0, releases both ports and removes its hosts entries", async () => {
    const home = scope.dir("home");
    const daemon = await foregroundDaemon(home);
    const gotunnel = await serving(home);
    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    expect(canBind(gotunnel.httpsPort)).toBe(true);
    expect(canBind(gotunnel.httpPort)).toBe(true);
    expect(readFileSync(hostsFileOf(home), "utf8")).not.toContain("myapp.local");
    // The session's stream ended with the daemon: `up` says so and exits 7 (daemon not running).
    expect(await gotunnel.exited()).toBe(7);
  }, 30_000);

  test("`gotunnel daemon stop` stops it, and a new daemon can take over its exact ports", async () => {
    const home = scope.dir("home");
    const first = await serving(home);
    const ports = first.ready.ports;
    const pid = daemonPid(home);
    expect(pid).toBeDefined();
    const stop = await runGotunnel(["daemon", "stop"], { cwd: home, home });
    expect(stop.exitCode).toBe(0);
    expect(await waitForExit(pid ?? 0)).toBe(true);
    const second = await scope.start(
      ["up", "--proxy-https-port", String(ports.https), "--proxy-http-port", String(ports.http)],
      { cwd: project, home },
    );
    expect(second.ready.ports).toEqual(ports);
    const response = await curl(`https://myapp.local:${ports.https}/text`, { ca: second.caPath });
    expect(response.stdout).toBe("hello from upstream");
    expect(await second.stop("SIGINT")).toBe(0);
  }, 30_000);

  test("SIGTERM while a client holds an idle keep-alive connection still exits 0", async () => {
    const home = scope.dir("home");
    const daemon = await foregroundDaemon(home);
    const gotunnel = await scope.up(project, home);
    const socket = await Bun.connect({ hostname: "127.0.0.1", port: gotunnel.httpPort, socket: { data() {} } });
    scope.defer(() => socket.end());
    socket.write(`GET / HTTP/1.1\r\nHost: myapp.local:${gotunnel.httpPort}\r\n\r\n`);
    await gotunnel.stdout.waitFor((line) => line.includes('"status":308'), 10_000);
    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    expect(canBind(gotunnel.httpPort)).toBe(true);
  }, 30_000);

  test("a request in flight when SIGTERM arrives still completes, then the daemon exits 0", async () => {
    const home = scope.dir("home");
    const sse = startSseUpstream(IN_FLIGHT_SILENCE_MS);
    scope.defer(sse.stop);
    const dir = scope.project({ "gotunnel.config.json": JSON.stringify({ routes: { "events.local": sse.port } }) });
    const daemon = await foregroundDaemon(home);
    const gotunnel = await scope.up(dir, home);
    const port = gotunnel.httpsPort;
    const client = Bun.spawn(
      ["curl", "-sS", "-N", "--max-time", "30", "--cacert", gotunnel.caPath].concat([
        "--resolve",
        `events.local:${port}:127.0.0.1`,
        `https://events.local:${port}/`,
      ]),
      { stdout: "pipe", stderr: "pipe", stdin: "ignore" },
    );
    scope.defer(() => client.kill("SIGKILL"));
    const lines = new LineCollector(client.stdout);
    await lines.waitFor((line) => line === "data: one", 10_000);
    daemon.kill("SIGTERM");
    await lines.waitFor((line) => line === "data: two", 20_000);
    expect(await client.exited).toBe(0);
    expect(await daemon.exited).toBe(0);
    expect(canBind(port)).toBe(true);
  }, 40_000);
});
