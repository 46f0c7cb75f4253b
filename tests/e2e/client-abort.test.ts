/**
 * A client that gives up before the upstream answers, through the compiled daemon: `gotunnel logs --json` records
 * nginx's 499 (client closed request), and /metrics counts no upstream error and no daemon error (what the daemon
 * reports to Sentry is what gotunnel_errors_total counts). An upstream that really fails is still a 502.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { E2EScope, freePort, type Gotunnel, loggedRequest, requireBinary, runGotunnel, until } from "../helpers/e2e.ts";
import {
  type RecordingUpstream,
  rawConnection,
  rawExchange,
  startRecordingUpstream,
  statuses,
} from "../helpers/raw-http.ts";

const scope = new E2EScope();
let home: string;
let gotunnel: Gotunnel;
let slow: RecordingUpstream;

/** Far longer than the test waits: the client always leaves first. */
const UPSTREAM_DELAY_MS = 60_000;

beforeAll(async () => {
  requireBinary();
  slow = startRecordingUpstream({ delayMs: UPSTREAM_DELAY_MS });
  scope.defer(slow.stop);
  home = scope.dir("home");
  const dir = scope.project({
    "gotunnel.config.json": JSON.stringify({
      routes: { "slow.local": `http://127.0.0.1:${slow.port}`, "down.local": `http://127.0.0.1:${await freePort()}` },
    }),
  });
  gotunnel = await scope.up(dir, home);
});

afterAll(() => scope.dispose());

async function metrics(): Promise<string> {
  const status = JSON.parse((await runGotunnel(["status", "--json"], { cwd: home, home })).stdout) as {
    admin?: { port: number };
  };
  return (await fetch(`http://127.0.0.1:${status.admin?.port}/metrics`)).text();
}

describe("a client that closes its connection before the upstream answers", () => {
  test("is logged as 499 and counted as neither an upstream error nor a daemon error", async () => {
    const connection = rawConnection(
      { port: gotunnel.httpsPort, tls: { ca: gotunnel.caPath, servername: "slow.local" } },
      `GET /gives-up HTTP/1.1\r\nHost: slow.local:${gotunnel.httpsPort}\r\n\r\n`,
    );
    // Leave only once the request is at the upstream: the proxy is waiting for its answer.
    expect(await until(() => (slow.requests.length > 0 ? true : undefined))).toBe(true);
    connection.close();
    expect((await connection.reply).text).toBe("");

    const line = await loggedRequest(home, "/gives-up");
    expect(line).toEqual(expect.objectContaining({ status: 499, route: "slow.local" }));
    expect(line?.error).toBeUndefined();

    const text = await metrics();
    expect(text).toContain('gotunnel_requests_total{route="slow.local",method="GET",code_class="4xx"} 1');
    expect(text).not.toContain("gotunnel_upstream_errors_total{");
    expect(text).not.toContain("gotunnel_errors_total{");
  });

  test("an upstream that is down is still a 502 and an upstream error (the metric above can appear)", async () => {
    const reply = await rawExchange(
      { port: gotunnel.httpsPort, tls: { ca: gotunnel.caPath, servername: "down.local" } },
      `GET /down HTTP/1.1\r\nHost: down.local:${gotunnel.httpsPort}\r\nConnection: close\r\n\r\n`,
    );
    expect(statuses(reply)).toEqual([502]);
    expect(await loggedRequest(home, "/down")).toEqual(expect.objectContaining({ status: 502, route: "down.local" }));
    expect(await metrics()).toContain('gotunnel_upstream_errors_total{route="down.local",kind="refused"} 1');
  });
});
