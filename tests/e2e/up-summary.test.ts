/**
 * `gotunnel up` in text mode shows a busy second as its first requests plus one summary line per route
 * (daemon/control/summary.ts); `up --json` still prints every request. Compiled binary, real HTTPS (h2) requests.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { BINARY, binaryEnv, E2EScope, type Gotunnel, LineCollector, requireBinary } from "../helpers/e2e.ts";
import { connectH2, h2Request } from "../helpers/h2.ts";
import { startEchoUpstream } from "../helpers/upstreams.ts";

const scope = new E2EScope();
const NAME = "busy.local";
/** More than SESSION_LINES_PER_SECOND (50) + SESSION_FAILURES_PER_SECOND (50), sent well inside one second. */
const SUCCESSES = 240;
const NOT_FOUND = 3;
let project: string;

beforeAll(() => {
  requireBinary();
  const upstream = startEchoUpstream();
  scope.defer(upstream.stop);
  project = scope.project({ "gotunnel.config.json": JSON.stringify({ routes: { [NAME]: upstream.port } }) });
});
afterAll(() => scope.dispose());

/** GET / SUCCESSES times and /status/404 NOT_FOUND times, over one h2 connection, 20 at a time. */
async function burst(port: number, ca: string): Promise<void> {
  const connection = await connectH2(port, NAME, ca);
  try {
    const paths = [
      ...Array.from({ length: SUCCESSES }, (_, i) => `/ok/${i}`),
      ...Array.from({ length: NOT_FOUND }, () => "/status/404"),
    ];
    for (let i = 0; i < paths.length; i += 20) {
      const answers = await Promise.all(paths.slice(i, i + 20).map((path) => h2Request(connection, { ":path": path })));
      for (const answer of answers) expect([200, 404]).toContain(answer.status);
    }
  } finally {
    connection.close();
  }
}

test("a busy second in text mode: the first requests, every failure, and one summary line with the exact count", async () => {
  const home = scope.dir("text");
  const proc = Bun.spawn([BINARY, "up", "--proxy-https-port", "0", "--proxy-http-port", "0"], {
    cwd: project,
    env: binaryEnv(home, { NO_COLOR: "1" }),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    detached: true,
  });
  scope.defer(() => proc.kill("SIGKILL"));
  const stdout = new LineCollector(proc.stdout);
  const urlLine = await stdout.waitFor((line) => line.includes(`https://${NAME}:`), 30_000);
  const port = Number(/https:\/\/busy\.local:(\d+)/.exec(urlLine)?.[1]);
  const caLine = await stdout.waitFor((line) => line.includes("CA "), 5_000);
  const caPath = /CA (\S+)/.exec(caLine)?.[1] ?? "";
  await burst(port, readFileSync(caPath, "utf8"));
  const summary = await stdout.waitFor((line) => line.includes(`more requests to ${NAME}`), 10_000);
  const requestLines = stdout.lines.filter((line) => /^\s+GET\s/.test(line));
  const shown200 = requestLines.filter((line) => /\s200\s/.test(line)).length;
  // Every 404 is shown (failures have their own bound); the 200s past the first lines are counted, and the counts add up.
  expect(requestLines.filter((line) => line.includes("/status/404"))).toHaveLength(NOT_FOUND);
  expect(requestLines.length).toBeLessThanOrEqual(100);
  expect(summary).toContain(`${SUCCESSES - shown200} more requests to ${NAME} in 1s (${SUCCESSES - shown200} × 200)`);
  expect(summary).toContain(`each one: gotunnel logs ${NAME}`);
  proc.kill("SIGTERM");
  expect(await proc.exited).toBe(0);
});

test("`up --json` prints every request of the same burst, one JSON line each, and no summary", async () => {
  const home = scope.dir("json");
  const up: Gotunnel = await scope.up(project, home);
  await burst(up.httpsPort, readFileSync(up.caPath, "utf8"));
  const expected = SUCCESSES + NOT_FOUND;
  const counted = async () => {
    for (let i = 0; i < 100 && up.requestLog().length < expected; i++) await Bun.sleep(50);
    return up.requestLog();
  };
  const lines = await counted();
  expect(lines).toHaveLength(expected);
  expect(lines.every((line) => line.event === undefined && typeof line.status === "number")).toBe(true);
  expect(up.stdout.text()).not.toContain("summary");
});
