/**
 * Stopping the compiled binary: Ctrl-C (SIGINT to its process group, as a terminal sends it) and SIGTERM (as a
 * service manager sends it) both exit 0 and release both listening ports, so the next `gotunnel up` can bind them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { canBind, curl, E2EScope, type Gotunnel, LineCollector, requireBinary } from "../helpers/e2e.ts";
import { startEchoUpstream, startSseUpstream, type Upstream } from "../helpers/upstreams.ts";

/** Well inside gotunnel's 5 s shutdown grace (src/daemon/foreground.ts SHUTDOWN_GRACE_MS). */
const IN_FLIGHT_SILENCE_MS = 1_000;

const scope = new E2EScope();
let upstream: Upstream;
let project = "";
let home = "";

beforeAll(() => {
  requireBinary();
  upstream = startEchoUpstream();
  scope.defer(upstream.stop);
  project = scope.project({ "gotunnel.config.json": JSON.stringify({ routes: { "myapp.local": upstream.port } }) });
  home = scope.dir("home");
});

afterAll(() => scope.dispose());

/** Starts gotunnel and proves it serves, leaving curl's keep-alive connection closed. */
async function serving(): Promise<Gotunnel> {
  const gotunnel = await scope.up(project, home);
  const response = await curl(`https://myapp.local:${gotunnel.httpsPort}/text`, { ca: gotunnel.caPath });
  expect(response.status).toBe(200);
  expect(canBind(gotunnel.httpsPort)).toBe(false);
  expect(canBind(gotunnel.httpPort)).toBe(false);
  return gotunnel;
}

describe("shutdown", () => {
  test("Ctrl-C (SIGINT to the process group) exits 0 and releases both ports", async () => {
    const gotunnel = await serving();
    process.kill(-gotunnel.pid, "SIGINT");
    expect(await gotunnel.exited()).toBe(0);
    expect(gotunnel.proc.signalCode).toBeNull();
    expect(canBind(gotunnel.httpsPort)).toBe(true);
    expect(canBind(gotunnel.httpPort)).toBe(true);
  }, 30_000);

  test("SIGTERM exits 0 and releases both ports", async () => {
    const gotunnel = await serving();
    expect(await gotunnel.stop("SIGTERM")).toBe(0);
    expect(gotunnel.proc.signalCode).toBeNull();
    expect(canBind(gotunnel.httpsPort)).toBe(true);
    expect(canBind(gotunnel.httpPort)).toBe(true);
  }, 30_000);

  test("a new gotunnel can take over the exact ports of one that was stopped", async () => {
    const first = await serving();
    const ports = first.ready.ports;
    expect(await first.stop("SIGTERM")).toBe(0);
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
    const gotunnel = await scope.up(project, home);
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port: gotunnel.httpPort,
      socket: { data() {} },
    });
    scope.defer(() => socket.end());
    socket.write(`GET / HTTP/1.1\r\nHost: myapp.local:${gotunnel.httpPort}\r\n\r\n`);
    await gotunnel.stdout.waitFor((line) => line.includes('"status":308'), 10_000);
    expect(await gotunnel.stop("SIGTERM")).toBe(0);
    expect(canBind(gotunnel.httpPort)).toBe(true);
  }, 30_000);

  test("a request in flight when SIGTERM arrives still completes, then gotunnel exits 0", async () => {
    const sse = startSseUpstream(IN_FLIGHT_SILENCE_MS);
    scope.defer(sse.stop);
    const dir = scope.project({ "gotunnel.config.json": JSON.stringify({ routes: { "events.local": sse.port } }) });
    const gotunnel = await scope.up(dir, home);
    const port = gotunnel.httpsPort;
    const client = Bun.spawn(
      [
        "curl",
        "-sS",
        "-N",
        "--max-time",
        "30",
        "--cacert",
        gotunnel.caPath,
        "--resolve",
        `events.local:${port}:127.0.0.1`,
        `https://events.local:${port}/`,
      ],
      { stdout: "pipe", stderr: "pipe", stdin: "ignore" },
    );
    scope.defer(() => client.kill("SIGKILL"));
    const lines = new LineCollector(client.stdout);
    await lines.waitFor((line) => line === "data: one", 10_000);
    gotunnel.proc.kill("SIGTERM");
    await lines.waitFor((line) => line === "data: two", 20_000);
    expect(await client.exited).toBe(0);
    expect(await gotunnel.exited()).toBe(0);
    expect(canBind(port)).toBe(true);
  }, 40_000);
});
