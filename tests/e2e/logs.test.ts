/**
 * `gotunnel logs` through the compiled binary: the daemon's buffered request log for every route and for one,
 * `--json` lines with the documented fields, `-n`, `-f` streaming a request made after it started and ending with
 * exit 0 on Ctrl-C, a mistyped name (exit 2 with a did-you-mean), no daemon (exit 7), and a daemon started by
 * `up --log-format json` writing only JSON lines to daemon.log.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  BINARY,
  binaryEnv,
  curl,
  E2EScope,
  type Gotunnel,
  LineCollector,
  requireBinary,
  runGotunnel,
} from "../helpers/e2e.ts";
import { startEchoUpstream, type Upstream } from "../helpers/upstreams.ts";

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const scope = new E2EScope();
let upstream: Upstream;
let home: string;
let session: Gotunnel;

interface LogLine {
  time: string;
  method: string;
  host: string;
  path: string;
  status: number;
  durationMs: number;
  route?: string;
}

beforeAll(async () => {
  requireBinary();
  upstream = startEchoUpstream();
  scope.defer(upstream.stop);
  home = scope.dir("home");
  const project = scope.project({
    "gotunnel.config.json": JSON.stringify({ routes: { "alpha.local": upstream.port, "beta.local": upstream.port } }),
  });
  session = await scope.up(project, home, ["--log-format", "json"]);
});

afterAll(() => scope.dispose());

function logs(args: string[], env: Record<string, string> = {}) {
  return runGotunnel(["logs", ...args], { cwd: home, home, env });
}

async function get(name: string, path: string): Promise<void> {
  const url = session.ready.routes.find((route) => route.name === name)?.url;
  expect((await curl(`${url}${path}`, { ca: session.caPath })).exitCode).toBe(0);
}

function parseLines(stdout: string): LogLine[] {
  return stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as LogLine);
}

describe("gotunnel logs", () => {
  test("prints the buffered requests of every route, or of one as JSON lines", async () => {
    for (const [name, path] of [
      ["alpha.local", "/a1"],
      ["beta.local", "/b1"],
      ["alpha.local", "/a2"],
    ] as const) {
      await get(name, path);
    }

    const all = await logs([]);
    expect(all.exitCode).toBe(0);
    for (const path of ["/a1", "/b1", "/a2"])
      expect(all.stdout).toMatch(new RegExp(`GET +(alpha|beta)\\.local:\\d+ ${path}  200`));
    expect(all.stdout.indexOf("/a1")).toBeLessThan(all.stdout.indexOf("/a2"));

    const alpha = await logs(["alpha", "--json"]);
    expect(alpha.exitCode).toBe(0);
    const lines = parseLines(alpha.stdout);
    expect(lines.map((line) => line.path)).toEqual(["/a1", "/a2"]);
    for (const line of lines) {
      expect(line.time).toMatch(ISO_TIME);
      expect(line).toMatchObject({ method: "GET", status: 200, route: "alpha.local" });
      expect(line.host).toStartWith("alpha.local:");
      expect(line.durationMs).toBeNumber();
    }

    const last = await logs(["-n", "1", "--json"]);
    expect(parseLines(last.stdout).map((line) => line.path)).toEqual(["/a2"]);

    // The same requests went to the `up` session as its JSON request log, with the same fields.
    expect(session.requestLog().map((line) => line.path)).toEqual(["/a1", "/b1", "/a2"]);
  });

  test("-f streams a request made after it started; Ctrl-C exits 0", async () => {
    const proc = Bun.spawn([BINARY, "logs", "beta.local", "-f", "--json"], {
      cwd: home,
      env: binaryEnv(home),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      detached: true,
    });
    scope.defer(() => proc.exitCode === null && proc.kill("SIGKILL"));
    const stdout = new LineCollector(proc.stdout);
    // The history line proves the stream is open, so the next request cannot be missed.
    await stdout.waitFor((line) => line.includes('"/b1"'), 10_000);
    await get("alpha.local", "/not-beta");
    await get("beta.local", "/live");
    const live = JSON.parse(await stdout.waitFor((line) => line.includes('"/live"'), 10_000)) as LogLine;
    expect(live).toMatchObject({ path: "/live", route: "beta.local", status: 200 });
    proc.kill("SIGINT");
    expect(await proc.exited).toBe(0);
    await stdout.done;
    expect(stdout.lines.some((line) => line.includes("/not-beta"))).toBe(false);
  });

  test("a name that is no route exits 2, naming the routes and the likely one", async () => {
    const result = await logs(["alpah"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("no route named alpah");
    expect(result.stderr).toContain("alpha.local, beta.local");
    expect(result.stderr).toContain("did you mean `gotunnel logs alpha.local`?");
  });

  test("exits 7 when no daemon runs", async () => {
    const idle = scope.dir("idle");
    const result = await runGotunnel(["logs"], { cwd: idle, home: idle });
    expect(result.exitCode).toBe(7);
    expect(result.stderr).toContain("not running");
  });

  test("a daemon started by `up --log-format json` writes JSON lines to daemon.log", () => {
    const text = readFileSync(join(home, "state", "daemon.log"), "utf8");
    const lines = text.split("\n").filter((line) => line !== "");
    expect(lines.length).toBeGreaterThan(0);
    const records = lines.map((line) => JSON.parse(line) as { time: string; level: string; msg: string });
    for (const record of records) {
      expect(record.time).toMatch(ISO_TIME);
      expect(["info", "warn"]).toContain(record.level);
      expect(record.msg).toBeString();
    }
    expect(records.some((record) => record.msg.includes("ready"))).toBe(true);
  });
});
