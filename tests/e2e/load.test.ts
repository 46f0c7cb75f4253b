/**
 * 500 concurrent clients through the compiled binary with wrk (bounded: 3 s each), over keep-alive and with a new
 * connection per request. wrk cannot be pointed at a name without DNS, so it connects to 127.0.0.1 (its SNI is then
 * unknown and gets the default certificate, which wrk does not verify) and sends `Host: myapp.local`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { E2EScope, type Gotunnel, requireBinary, run, runGotunnel } from "../helpers/e2e.ts";
import { requireTools } from "../helpers/tools.ts";
import { startHelloUpstream } from "../helpers/upstreams.ts";

const wrkTool = requireTools("wrk");

const CONNECTIONS = 500;
const DURATION_S = 3;

const scope = new E2EScope();
let gotunnel: Gotunnel;
let upstream: ReturnType<typeof startHelloUpstream>;
let home = "";

beforeAll(async () => {
  requireBinary();
  if (wrkTool.skip) return;
  upstream = startHelloUpstream();
  scope.defer(upstream.stop);
  const dir = scope.project({ "gotunnel.config.json": JSON.stringify({ routes: { "myapp.local": upstream.port } }) });
  home = scope.dir("home");
  gotunnel = await scope.up(dir, home);
});

afterAll(() => scope.dispose());

interface WrkSummary {
  requests: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  non2xx3xx: number;
  output: string;
}

/** wrk prints "Socket errors" and "Non-2xx or 3xx responses" only when there are some: absent means zero. */
function parseWrk(output: string): WrkSummary {
  const requests = /(\d+) requests in /.exec(output)?.[1];
  if (requests === undefined) throw new Error(`wrk printed no summary:\n${output}`);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const [connect, read, write, timeout] = errors ? errors.slice(1).map(Number) : [0, 0, 0, 0];
  return {
    requests: Number(requests),
    socketErrors: { connect: connect ?? 0, read: read ?? 0, write: write ?? 0, timeout: timeout ?? 0 },
    non2xx3xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0),
    output,
  };
}

async function wrk(extra: string[], connections = CONNECTIONS, durationS = DURATION_S): Promise<WrkSummary> {
  const url = `https://127.0.0.1:${gotunnel.httpsPort}/`;
  const argv = ["wrk", "-t1", `-c${connections}`, `-d${durationS}s`, "--timeout", "10s", "-H", "Host: myapp.local"];
  const result = await run([...argv, ...extra, url], { timeoutMs: 60_000 });
  expect(result.exitCode).toBe(0);
  const summary = parseWrk(result.stdout + result.stderr);
  console.log(`wrk ${extra.join(" ") || "(keep-alive)"}: ${summary.requests} requests`);
  return summary;
}

function expectClean(summary: WrkSummary): void {
  expect({ socketErrors: summary.socketErrors, non2xx3xx: summary.non2xx3xx }).toEqual({
    socketErrors: { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx3xx: 0,
  });
  expect(summary.requests).toBeGreaterThan(0);
}

/** Long enough to outlast adding and removing 20 routes, even on a loaded 2-core CI machine. */
const CHURN_LOAD_S = 30;

describe.skipIf(wrkTool.skip)(wrkTool.title("500 concurrent clients"), () => {
  test("keep-alive: zero socket errors and zero non-2xx responses", async () => {
    const before = upstream.count;
    const summary = await wrk([]);
    expectClean(summary);
    // Every request wrk counted reached the upstream (wrk may have more in flight when it stops counting).
    expect(upstream.count - before).toBeGreaterThanOrEqual(summary.requests);
  }, 90_000);

  test("`Connection: close` (a new TLS connection per request): zero errors", async () => {
    expectClean(await wrk(["-H", "Connection: close"]));
  }, 90_000);

  test("adding and removing 20 routes while 50 clients load an existing route: zero failed requests", async () => {
    // wrk runs longer than the churn (~10 s on this machine), and we check it is still running when the churn ends,
    // so every add and remove happens under load.
    let loadDone = false;
    const load = wrk([], 50, CHURN_LOAD_S).finally(() => {
      loadDone = true;
    });
    const names: string[] = [];
    for (let index = 0; index < 20; index++) {
      const name = `churn${index}`;
      const env = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };
      const added = await runGotunnel(["start", "-d", name, "-p", String(upstream.port)], { cwd: home, home, env });
      expect(added.exitCode).toBe(0);
      names.push(name);
      if (names.length > 3) {
        const removed = await runGotunnel(["stop", names.shift() ?? ""], { cwd: home, home });
        expect(removed.exitCode).toBe(0);
      }
    }
    for (const name of names) expect((await runGotunnel(["stop", name], { cwd: home, home })).exitCode).toBe(0);
    expect(loadDone).toBe(false);
    expectClean(await load);
  }, 90_000);

  test("the proxy still answers a normal request afterwards", async () => {
    const result = await run([
      "curl",
      "-sS",
      "--cacert",
      gotunnel.caPath,
      "--resolve",
      `myapp.local:${gotunnel.httpsPort}:127.0.0.1`,
      `https://myapp.local:${gotunnel.httpsPort}/`,
    ]);
    expect(result.stdout).toBe("ok");
  });
});
