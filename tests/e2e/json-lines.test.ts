/**
 * `--json` output through the compiled binary is JSON Lines everywhere: every stdout line is one JSON object, for
 * one-shot commands, for `up --json`'s stream, and for every error (a pretty-printed error broke JSON-lines readers
 * of `up --json`, issue 19). Nothing else may reach stdout under `--json`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { E2EScope, type RunResult, requireBinary, runGotunnel } from "../helpers/e2e.ts";
import { startEchoUpstream, type Upstream } from "../helpers/upstreams.ts";

const scope = new E2EScope();
let upstream: Upstream;
let home: string;
let project: string;

beforeAll(() => {
  requireBinary();
  upstream = startEchoUpstream();
  scope.defer(upstream.stop);
  home = scope.dir("home");
  project = scope.project({ "gotunnel.config.json": JSON.stringify({ routes: { "lines.local": upstream.port } }) });
});

afterAll(() => scope.dispose());

const PORTS = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };

function gotunnel(args: string[], cwd = project): Promise<RunResult> {
  return runGotunnel(args, { cwd, home, env: PORTS });
}

/** Every stdout line, each parsed as one JSON object; fails naming the line that is not. */
function jsonLines(result: RunResult): Record<string, unknown>[] {
  const lines = result.stdout.split("\n");
  expect(lines.pop()).toBe(""); // Ends with a newline.
  return lines.map((line) => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`stdout line is not JSON: ${JSON.stringify(line)}\nwhole stdout:\n${result.stdout}`);
    }
    expect(typeof value === "object" && value !== null && !Array.isArray(value)).toBe(true);
    return value as Record<string, unknown>;
  });
}

/** Exactly one JSON line, an error with the documented fields and the exit code it names. */
function oneError(result: RunResult, code: string, exitCode: number): void {
  const lines = jsonLines(result);
  expect(lines).toHaveLength(1);
  const error = lines[0]?.error as Record<string, unknown>;
  expect(error.code).toBe(code);
  expect(typeof error.message).toBe("string");
  expect(error.exitCode).toBe(exitCode);
  expect(result.exitCode).toBe(exitCode);
}

describe("--json errors are one line", () => {
  test("an unknown command", async () => {
    oneError(await gotunnel(["stat", "--json"]), "E_USAGE", 2);
  });

  test("`up --json` in a project without routes", async () => {
    oneError(await gotunnel(["up", "--json"], scope.dir("empty")), "E_CONFIG_INVALID", 3);
  });

  test("`start --json` with a bad name, and `status --json` with no daemon", async () => {
    oneError(await gotunnel(["start", "-d", "bad name", "-p", "3000", "--json"]), "E_DOMAIN_INVALID", 3);
    oneError(await gotunnel(["status", "--json"], scope.dir("elsewhere")), "E_DAEMON", 7);
  });

  test("a --json after `--` belongs to the command run, not to gotunnel", async () => {
    const result = await gotunnel(["run", "--", "--json"], scope.dir("empty"));
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("no routes to serve");
  });
});

describe("--json results are one line per object", () => {
  test("one-shot commands print exactly one line", async () => {
    for (const args of [["version"], ["ca"], ["env"]]) {
      const result = await gotunnel([...args, "--json"]);
      expect(result.exitCode).toBe(0);
      expect(jsonLines(result)).toHaveLength(1);
    }
  });

  test("with a daemon: start, list, status, logs, stop", async () => {
    const started = await gotunnel(["start", "-d", "one", "-p", String(upstream.port), "--json"]);
    expect(started.exitCode).toBe(0);
    expect(jsonLines(started).map((line) => line.event)).toEqual(["ready"]);
    for (const args of [["list"], ["status"], ["health"]]) {
      const result = await gotunnel([...args, "--json"]);
      expect(result.exitCode).toBe(0);
      expect(jsonLines(result)).toHaveLength(1);
    }
    oneError(await gotunnel(["logs", "nope", "--json"]), "E_USAGE", 2);
    const stopped = await gotunnel(["stop", "one", "--json"]);
    expect(jsonLines(stopped)).toEqual([{ removed: ["one.local"] }]);
  });
});
