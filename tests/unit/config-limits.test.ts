/**
 * The limits on loading a config (src/config/sandbox.ts, depth.ts, preview.ts) from source: the compiled binary's
 * side of the same cases is tests/e2e/config-limits.test.ts. The worker is a thread, not a child process.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_CONFIG_DEPTH, nestsDeeperThan } from "../../src/config/depth.ts";
import { loadConfig } from "../../src/config/load.ts";
import { preview } from "../../src/config/preview.ts";
import { parseDurationMs } from "../../src/core/duration.ts";
import { GotunnelError } from "../../src/core/errors.ts";

const made: string[] = [];

afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-config-limits-"));
  made.push(dir);
  return dir;
}

async function loadError(files: Record<string, string>, env: Record<string, string> = {}) {
  const dir = tempDir();
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const error = await loadConfig({ cwd: dir, env, userConfigDir: tempDir() }).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof GotunnelError)) throw new Error(`expected a GotunnelError, got ${String(error)}`);
  return { error, dir };
}

/** `levels` arrays, one inside the next. */
function nested(levels: number): unknown {
  let value: unknown = 1;
  for (let level = 0; level < levels; level++) value = [value];
  return value;
}

describe("nestsDeeperThan", () => {
  test("counts each object or array as one level, up to the limit exactly", () => {
    expect(nestsDeeperThan(nested(MAX_CONFIG_DEPTH), MAX_CONFIG_DEPTH)).toBe(false);
    expect(nestsDeeperThan(nested(MAX_CONFIG_DEPTH + 1), MAX_CONFIG_DEPTH)).toBe(true);
    expect(nestsDeeperThan({ routes: { a: { headers: { x: "1" } } } }, 4)).toBe(false);
    expect(nestsDeeperThan("text", 0)).toBe(false);
  });

  test("measures 100k levels without overflowing the stack", () => {
    expect(nestsDeeperThan(nested(100_000), MAX_CONFIG_DEPTH)).toBe(true);
  });

  test("a value that contains itself counts as too deep", () => {
    const routes: Record<string, unknown> = {};
    routes.self = routes;
    expect(nestsDeeperThan({ routes }, MAX_CONFIG_DEPTH)).toBe(true);
  });

  test("a shared object is not walked once per path (2^30 paths here)", () => {
    let value: unknown = { leaf: 1 };
    for (let level = 0; level < 30; level++) value = [value, value];
    expect(nestsDeeperThan(value, MAX_CONFIG_DEPTH)).toBe(false);
  });
});

describe("preview", () => {
  test("JSON for plain data, cut at 80 characters", () => {
    expect(preview({ a: [1, "x", null, true] })).toBe('{"a":[1,"x",null,true]}');
    const long = preview(Array(1000).fill("lol"));
    expect(long).toBe(`${'["lol",'.padEnd(80, '"lol",').slice(0, 80)}…`);
  });

  test("stops writing at the limit: a billion-element value made of shared arrays is instant", () => {
    let value: unknown = "lol";
    for (let level = 0; level < 12; level++) value = Array(9).fill(value);
    expect(preview(value)).toStartWith('[[[[[[[[[[[["lol","lol"');
  });

  test("values JSON cannot show", () => {
    expect(preview(() => 1)).toBe("a function");
    expect(preview(10n)).toBe("10n");
    expect(preview(undefined)).toBe("undefined");
    expect(preview(new Date(0))).toBe('"1970-01-01T00:00:00.000Z"');
  });
});

test("parseDurationMs reads 1500ms, 30s, 2m and plain seconds", () => {
  expect([parseDurationMs("1500ms"), parseDurationMs("30s"), parseDurationMs("2m"), parseDurationMs(" 1.5 ")]).toEqual([
    1500, 30_000, 120_000, 1500,
  ]);
  expect(parseDurationMs("soon")).toBeUndefined();
});

describe("loading a JS/TS config in a worker", () => {
  const FAST = { GOTUNNEL_CONFIG_TIMEOUT: "300ms" };

  test("a busy loop is stopped at the limit", async () => {
    const { error, dir } = await loadError({ "gotunnel.config.ts": "while (true) {}\n" }, FAST);
    expect(error.code).toBe("E_CONFIG_LOAD");
    expect(error.message).toBe(
      `Could not load ${join(dir, "gotunnel.config.ts")}: it did not finish loading within 0.3 s: does it loop or await something that never settles?`,
    );
  });

  test("process.exit() ends only the worker and is reported", async () => {
    const { error } = await loadError({ "gotunnel.config.ts": "process.exit(9);\n" });
    expect(error.message).toEndWith("it called process.exit(9) while loading.");
  });

  test("a function where data belongs is named by its path", async () => {
    const config = 'export default { routes: { "a.local": { target: 3000, headers: { x: () => "1" } } } };\n';
    const { error, dir } = await loadError({ "gotunnel.config.ts": config });
    expect(error.code).toBe("E_CONFIG_INVALID");
    expect(error.message).toBe(
      `Invalid gotunnel config: ${join(dir, "gotunnel.config.ts")}: routes["a.local"].headers.x is a function; a config holds plain data.`,
    );
  });

  test("timers a config leaves running do not keep gotunnel alive or fire later", async () => {
    const dir = tempDir();
    const marker = join(dir, "fired");
    const config = `setTimeout(() => Bun.write(${JSON.stringify(marker)}, "x"), 200);\nexport default { routes: { web: 3000 } };\n`;
    writeFileSync(join(dir, "gotunnel.config.ts"), config);
    const { config: loaded } = await loadConfig({ cwd: dir, env: {}, userConfigDir: tempDir() });
    expect(loaded.routes.map((route) => route.name)).toEqual(["web.local"]);
    await Bun.sleep(400);
    expect(await Bun.file(marker).exists()).toBe(false);
  });
});
