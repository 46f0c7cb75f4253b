/**
 * HTTP/2 streams over time, through the compiled daemon (issue 16): with 2 s client timeouts an SSE stream and a long
 * poll outlive the keep-alive timeout, an idle connection gets GOAWAY, a stalled upload gets its 408 on its own stream;
 * a cancelled stream (RST_STREAM) is logged 499 while its connection serves on; a route change (the listener swap)
 * lets in-flight streams finish and ends the old connection with GOAWAY. Forwarding over h2 is in http2.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { E2EScope, type Gotunnel, LineCollector, requireBinary, runGotunnel, until } from "../helpers/e2e.ts";
import {
  connectH2,
  connectionSpecific,
  curlOver,
  type H2Connection,
  h2Request,
  NGHTTP2_CANCEL,
} from "../helpers/h2.ts";
import { startRecordingUpstream } from "../helpers/raw-http.ts";
import { startPatientUpstream } from "../helpers/stalled-peers.ts";
import { startEchoUpstream, startSseUpstream } from "../helpers/upstreams.ts";

/** Short, so the timeout tests are quick; Bun checks connection timers every 4 s (CONTRIBUTING.md). */
const KEEPALIVE_TIMEOUT_S = 2;
const BODY_TIMEOUT_S = 2;
/** Past the keep-alive timeout plus Bun's 4 s timer granularity. */
const LONG_POLL_MS = 7_000;
const SSE_SILENCE_MS = 10_000;
/** A bound that only catches a hang: the timeouts above, plus two of Bun's 4 s timer ticks. */
const CLOSE_WITHIN_MS = 15_000;

const scope = new E2EScope();
/** Default client timeouts: under 5 s, Bun's 4 s timer ticks also end busy h2 connections (CONTRIBUTING.md). */
let gotunnel: Gotunnel;
/** The same routes with 2 s client timeouts, for the timeout tests. */
let short: Gotunnel;
let home: string;
let echo: ReturnType<typeof startEchoUpstream>;
let slow: ReturnType<typeof startRecordingUpstream>;

beforeAll(async () => {
  requireBinary();
  echo = startEchoUpstream();
  slow = startRecordingUpstream({ delayMs: 60_000 });
  const patient = startPatientUpstream();
  const sse = startSseUpstream(SSE_SILENCE_MS);
  for (const upstream of [echo, slow, patient, sse]) scope.defer(upstream.stop);
  const routes = {
    "myapp.local": echo.port,
    "slow.local": slow.port,
    "patient.local": patient.port,
    "events.local": sse.port,
  };
  const dir = scope.project({ "gotunnel.config.json": JSON.stringify({ routes }) });
  home = scope.dir("home");
  gotunnel = await scope.up(dir, home);
  short = await scope.start(["up", "--proxy-https-port", "0", "--proxy-http-port", "0"], {
    cwd: dir,
    home: scope.dir("home-short"),
    env: {
      GOTUNNEL_KEEPALIVE_TIMEOUT: String(KEEPALIVE_TIMEOUT_S),
      GOTUNNEL_CLIENT_BODY_TIMEOUT: String(BODY_TIMEOUT_S),
    },
  });
});

afterAll(() => scope.dispose());

const url = (name: string, path: string, to = gotunnel) => `https://${name}:${to.httpsPort}${path}`;

/** An h2 connection to `to` with SNI `name`, closed with the scope. */
async function h2(name = "myapp.local", to = gotunnel): Promise<H2Connection> {
  const connection = await connectH2(to.httpsPort, name, await Bun.file(to.caPath).text());
  scope.defer(() => connection.session.destroy());
  return connection;
}

describe("streams and timeouts over h2 (2 s client timeouts)", () => {
  test(
    "SSE: an event, 10 s of silence past the keep-alive timeout, another event: both arrive",
    async () => {
      const port = short.httpsPort;
      const argv = [
        "curl",
        "-sS",
        "-N",
        "--http2",
        "-w",
        "%{stderr}[version %{http_version}]",
        "--cacert",
        short.caPath,
      ];
      argv.push("--resolve", `events.local:${port}:127.0.0.1`);
      const client = Bun.spawn([...argv, "--max-time", "60", url("events.local", "/events", short)], {
        stdout: "pipe",
        stderr: "pipe",
        stdin: "ignore",
      });
      scope.defer(() => client.kill("SIGKILL"));
      const lines = new LineCollector(client.stdout);
      await lines.waitFor((line) => line === "data: one", 10_000);
      await lines.waitFor((line) => line === "data: two", SSE_SILENCE_MS + 20_000);
      expect(await client.exited).toBe(0);
      expect(await new Response(client.stderr).text()).toBe("[version 2]");
    },
    SSE_SILENCE_MS + 40_000,
  );

  test("a long poll answered after 7 s is not cut by the keep-alive timeout", async () => {
    const late = url("patient.local", `/late?ms=${LONG_POLL_MS}`, short);
    const response = await curlOver("2", late, short.caPath, ["-X", "POST", "-d", "x"]);
    expect(response.version).toBe("2");
    expect(response.stdout).toBe("got 1 bytes\n");
  }, 30_000);

  test("an idle connection gets GOAWAY (no error) after the keep-alive timeout, also after a streamed answer", async () => {
    for (const [name, path] of [
      ["myapp.local", "/text"],
      ["patient.local", "/drip"],
    ] as const) {
      const connection = await h2(name, short);
      expect((await h2Request(connection, { ":path": path })).status).toBe(200);
      const closed = await Promise.race([connection.closed.then(() => true), Bun.sleep(CLOSE_WITHIN_MS)]);
      expect(closed).toBe(true);
      expect(connection.goaways.map((goaway) => goaway.code)).toEqual([0]);
    }
  }, 45_000);

  test("a body that stops arriving gets a 408 on its stream, and the connection serves the next request", async () => {
    const connection = await h2("patient.local", short);
    const stalled = { ":method": "POST", ":path": "/stalls", "content-length": "100" };
    const response = await h2Request(connection, stalled, (stream) => stream.write("x".repeat(10)));
    expect(response.status).toBe(408);
    expect(connectionSpecific(response.headers)).toEqual([]);
    expect((await h2Request(connection, { ":path": "/next" })).status).toBe(200);
  }, 30_000);
});

describe("a client that cancels a stream", () => {
  test("is logged 499, and its connection keeps serving", async () => {
    const connection = await h2("slow.local");
    const before = slow.requests.length;
    const request = h2Request(connection, { ":path": "/cancelled-over-h2" }, (stream) => {
      stream.end();
      until(() => (slow.requests.length > before ? true : undefined)).then(() => stream.close(NGHTTP2_CANCEL));
    });
    expect((await request).rstCode).toBe(NGHTTP2_CANCEL);
    const logged = await until(() => gotunnel.requestLog().find((line) => line.path === "/cancelled-over-h2"));
    expect(logged).toEqual(expect.objectContaining({ status: 499, route: "slow.local" }));
    expect(logged?.error).toBeUndefined();
    const other = `myapp.local:${gotunnel.httpsPort}`;
    expect((await h2Request(connection, { ":path": "/still-serving", ":authority": other })).status).toBe(200);
  });
});

describe("a route change while h2 connections are open (the listener swap)", () => {
  test("in-flight streams finish, answers carry no connection-specific field, GOAWAY ends the old connection", async () => {
    const connection = await h2("myapp.local");
    expect((await h2Request(connection, { ":path": "/before-swap" })).status).toBe(200);
    const patientAuthority = `patient.local:${gotunnel.httpsPort}`;
    const inFlight = h2Request(
      connection,
      { ":method": "POST", ":path": "/late?ms=3000", ":authority": patientAuthority },
      (s) => s.end("x"),
    );
    // A new route means new certificates: a new listener, and the old one drains and stops (src/proxy/server.ts).
    const added = runGotunnel(["start", "-d", "added", "-p", String(echo.port)], { cwd: home, home });
    const answers: { status: number; fields: string[] }[] = [];
    while (connection.goaways.length === 0 && answers.length < 400) {
      const response = await h2Request(connection, { ":path": "/during-swap" }).catch(() => undefined);
      if (response?.rstCode !== 0) break;
      answers.push({ status: response.status, fields: connectionSpecific(response.headers) });
      await Bun.sleep(25);
    }
    expect((await added).exitCode).toBe(0);
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.filter((answer) => answer.status !== 200 || answer.fields.length > 0)).toEqual([]);
    const slowAnswer = await inFlight;
    expect([slowAnswer.status, slowAnswer.body.toString()]).toEqual([200, "got 1 bytes\n"]);
    await Promise.race([connection.closed, Bun.sleep(CLOSE_WITHIN_MS)]);
    expect(connection.goaways.map((goaway) => goaway.code)).toEqual([0]);
    const fresh = await h2("added.local");
    expect((await h2Request(fresh, { ":path": "/after-swap" })).status).toBe(200);
  }, 60_000);
});
