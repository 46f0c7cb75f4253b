/**
 * Config files that never finish, through the compiled binary: a TS config that loops or awaits forever, one that
 * calls process.exit(), and files nested far too deeply. Each must end `gotunnel up` with exit 3 and an error that
 * names the file and what happened, never hang, never look like success, never print "this is a bug".
 * Every run has its own bound (run's timeoutMs), so a regression fails here by timing out instead of hanging the suite.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { E2EScope, type RunResult, requireBinary, runGotunnel } from "../helpers/e2e.ts";

const CONFIG_EXIT_CODE = 3;
/** Far above the 1 s limit the tests set, far below "hangs forever". */
const RUN_BOUND_MS = 20_000;
const SAFE_PORTS = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };
const DEEP_LEVELS = 100_000;

const scope = new E2EScope();

beforeAll(() => requireBinary());
afterAll(() => scope.dispose());

/** `gotunnel up` in a project holding `files`; returns the run and the project dir. */
async function up(files: Record<string, string>, env: Record<string, string> = {}, args: string[] = []) {
  const dir = scope.project({ "package.json": '{ "name": "app" }', ...files });
  const home = scope.dir("home");
  const options = { cwd: dir, home, env: { ...SAFE_PORTS, ...env }, timeoutMs: RUN_BOUND_MS };
  const result = await runGotunnel(["up", ...args], options);
  return { result, dir };
}

function expectConfigError(result: RunResult, message: string): void {
  expect(result.stderr).not.toContain("this is a bug");
  expect(result.stderr).toContain(`error ${message}`);
  expect(result.stderr).toMatch(/\nhint {2}.+\n$/);
  expect(result.exitCode).toBe(CONFIG_EXIT_CODE);
}

describe("a JS/TS config that never finishes loading", () => {
  const ONE_SECOND = { GOTUNNEL_CONFIG_TIMEOUT: "1s" };

  test("`while (true) {}` stops at the time limit with E_CONFIG_LOAD naming the file", async () => {
    const { result, dir } = await up({ "gotunnel.config.ts": "while (true) {}\nexport default {};\n" }, ONE_SECOND);
    expectConfigError(
      result,
      `Could not load ${join(dir, "gotunnel.config.ts")}: it did not finish loading within 1 s: does it loop or await something that never settles?`,
    );
    expect(result.stderr).toContain("GOTUNNEL_CONFIG_TIMEOUT=30s");
  });

  test("awaiting a promise that never settles stops at the time limit; --json says E_CONFIG_LOAD", async () => {
    const config =
      'import { defineConfig } from "gotunnel";\nawait new Promise(() => {});\nexport default defineConfig({});\n';
    const { result, dir } = await up({ "gotunnel.config.mts": config }, ONE_SECOND, ["--json"]);
    expect(result.exitCode).toBe(CONFIG_EXIT_CODE);
    const { error } = JSON.parse(result.stdout) as { error: { code: string; message: string; exitCode: number } };
    expect(error.code).toBe("E_CONFIG_LOAD");
    expect(error.exitCode).toBe(CONFIG_EXIT_CODE);
    expect(error.message).toContain(`${join(dir, "gotunnel.config.mts")}: it did not finish loading within 1 s`);
  });

  test("without GOTUNNEL_CONFIG_TIMEOUT the limit is 10 s", async () => {
    const { result, dir } = await up({ "gotunnel.config.js": "for (;;) {}\n" });
    expectConfigError(
      result,
      `Could not load ${join(dir, "gotunnel.config.js")}: it did not finish loading within 10 s: does it loop or await something that never settles?`,
    );
  });

  test("a config that loads in time is not cut short by a slow machine's longer limit", async () => {
    const config = 'import { defineConfig } from "gotunnel";\nawait Bun.sleep(50);\nexport default defineConfig({});\n';
    const { result, dir } = await up({ "gotunnel.config.ts": config }, { GOTUNNEL_CONFIG_TIMEOUT: "30s" });
    // Loaded: it gets as far as "no routes", the next check after loading.
    expect(result.stderr).toContain(`error no routes to serve in ${dir}`);
    expect(result.stderr).not.toContain("did not finish loading");
  });

  test("a GOTUNNEL_CONFIG_TIMEOUT that is not a duration is a config error naming the variable", async () => {
    const { result } = await up({ "gotunnel.config.ts": "export default {};\n" }, { GOTUNNEL_CONFIG_TIMEOUT: "soon" });
    expectConfigError(
      result,
      'environment variable GOTUNNEL_CONFIG_TIMEOUT: expected a duration like 30s, 1500ms or 2m (found "soon")',
    );
  });
});

describe("process.exit() inside a config does not look like success", () => {
  for (const code of [0, 4]) {
    test(`process.exit(${code}) is E_CONFIG_LOAD, exit 3`, async () => {
      const { result, dir } = await up({ "gotunnel.config.ts": `process.exit(${code});\nexport default {};\n` });
      expectConfigError(
        result,
        `Could not load ${join(dir, "gotunnel.config.ts")}: it called process.exit(${code}) while loading.`,
      );
    });
  }
});

describe("files nested too deeply are a config error, not a crash", () => {
  const tooDeep = (file: string) =>
    `Could not load ${file}: it is nested too deeply (more than 32 levels, or a value contains itself).`;
  const brackets = `${"[".repeat(DEEP_LEVELS)}${"]".repeat(DEEP_LEVELS)}`;

  test("gotunnel.config.json holding [[[…]]] 100k deep", async () => {
    const { result, dir } = await up({ "gotunnel.config.json": brackets });
    expectConfigError(result, tooDeep(join(dir, "gotunnel.config.json")));
  });

  test('package.json whose "gotunnel" key is 100k deep', async () => {
    const { result, dir } = await up({ "package.json": `{ "name": "app", "gotunnel": ${brackets} }` });
    expectConfigError(result, tooDeep(join(dir, "package.json")));
  });

  test("YAML nested 100k deep", async () => {
    const { result, dir } = await up({ "gotunnel.config.yaml": `routes: ${brackets}\n` });
    expectConfigError(result, tooDeep(join(dir, "gotunnel.config.yaml")));
  });

  test("a TS config exporting a value 100k deep", async () => {
    const config = `let value: unknown = 1;\nfor (let i = 0; i < ${DEEP_LEVELS}; i++) value = [value];\nexport default { routes: value };\n`;
    const { result, dir } = await up({ "gotunnel.config.ts": config });
    expectConfigError(result, tooDeep(join(dir, "gotunnel.config.ts")));
  });

  test("a YAML alias bomb (10 levels of 9 aliases) is answered at once with a short preview of the bad value", async () => {
    const levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
    for (let level = 1; level < 10; level++) {
      const [name, previous] = [String.fromCharCode(97 + level), String.fromCharCode(96 + level)];
      levels.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(", ")}]`);
    }
    const yaml = `${levels.join("\n")}\nroutes:\n  x.local: { target: 3000, headers: { h: *j } }\n`;
    const { result, dir } = await up({ "gotunnel.config.yaml": yaml });
    expectConfigError(result, "Invalid gotunnel config (11 problems):");
    expect(result.stderr).toContain(
      `${join(dir, "gotunnel.config.yaml")}: routes["x.local"].headers.h: expected a string header value (found [[[[[[[[[["lol","lol",`,
    );
  });
});
