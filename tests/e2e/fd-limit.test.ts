/**
 * File descriptors through the compiled daemon run under `prlimit`: Bun raises the soft open-file limit to the hard
 * one at start, and with the limit at 1024, 2000 idle keep-alive connections must not lock new clients out (issue
 * 15: 1012 of them exhausted the descriptors and every new client timed out). Linux only (prlimit, /proc).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { TLSSocket } from "node:tls";
import { BINARY, binaryEnv, curl, E2EScope, LineCollector, requireBinary, runGotunnel } from "../helpers/e2e.ts";
import { openTls, recordExchange } from "../helpers/stalled-peers.ts";
import { startHelloUpstream } from "../helpers/upstreams.ts";

const IDLE_CONNECTIONS = 2000;
/** Opening this many at once would only fill the listen backlog faster; a batch at a time keeps the test steady. */
const OPEN_BATCH = 100;
const READY_TIMEOUT_MS = 20_000;

const scope = new E2EScope();
let upstream: ReturnType<typeof startHelloUpstream>;

beforeAll(() => {
  requireBinary();
  upstream = startHelloUpstream();
  scope.defer(upstream.stop);
});

afterAll(() => scope.dispose());

/** `gotunnel daemon` in the foreground under `prlimit --nofile=soft:hard`, serving myapp.local; its HTTPS port. */
async function daemonUnderLimit(soft: number, hard: number) {
  const home = scope.dir("home");
  const daemon = Bun.spawn(
    ["prlimit", `--nofile=${soft}:${hard}`, BINARY, "daemon", "--proxy-https-port=0", "--proxy-http-port=0"],
    { cwd: home, env: binaryEnv(home), stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
  scope.defer(() => daemon.kill("SIGKILL"));
  const log = new LineCollector(daemon.stderr);
  const stdout = new LineCollector(daemon.stdout);
  await Promise.race(
    [log, stdout].map((lines) => lines.waitFor((line) => line.includes("ready on"), READY_TIMEOUT_MS)),
  );
  const started = await runGotunnel(["start", "-d", "myapp.local", "-p", String(upstream.port), "--json"], {
    cwd: home,
    home,
  });
  expect(started.exitCode).toBe(0);
  const ready = JSON.parse(started.stdout.split("\n")[0] ?? "") as { ports: { https: number }; ca: { path: string } };
  return { pid: daemon.pid, port: ready.ports.https, ca: ready.ca.path, log: () => `${log.text()}\n${stdout.text()}` };
}

function openFileLimits(pid: number): string {
  return /^Max open files.*$/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"))?.[0] ?? "";
}

describe("file descriptors", () => {
  test("the daemon's soft open-file limit is raised to the hard one at start", async () => {
    const daemon = await daemonUnderLimit(1024, 4096);
    expect(openFileLimits(daemon.pid)).toMatch(/^Max open files\s+4096\s+4096\s/);
  });

  test(`with the limit at 1024, ${IDLE_CONNECTIONS} idle keep-alive connections do not lock a new client out`, async () => {
    const daemon = await daemonUnderLimit(1024, 1024);
    const ca = readFileSync(daemon.ca, "utf8");
    const sockets: Promise<TLSSocket>[] = [];
    let answered = 0;
    for (let i = 0; i < IDLE_CONNECTIONS; i++) {
      const socket = openTls(daemon.port, "myapp.local", ca).then((tls) => {
        const exchange = recordExchange(tls);
        void exchange.status.then(() => answered++);
        tls.write("GET / HTTP/1.1\r\nHost: myapp.local\r\n\r\n");
        scope.defer(() => tls.destroy());
        return tls;
      });
      // A connection the daemon never accepts only waits; that is part of what is under test.
      socket.catch(() => undefined);
      sockets.push(socket);
      if (i % OPEN_BATCH === OPEN_BATCH - 1) await Bun.sleep(50);
    }
    const result = await curl(`https://myapp.local:${daemon.port}/`, {
      ca: daemon.ca,
      args: ["--max-time", "60"],
      timeoutMs: 90_000,
    });
    console.log(
      `${answered} of ${IDLE_CONNECTIONS} idle connections had been answered; the new client got ${result.status}`,
    );
    if (result.status !== 200) console.log(daemon.log());
    expect(result.status).toBe(200);
    expect(new TextDecoder().decode(result.body)).toBe("ok");
    expect(daemon.log()).toMatch(/\d+ of 1024 open files in use: closed \d+ idle connections/);
  }, 120_000);
});
