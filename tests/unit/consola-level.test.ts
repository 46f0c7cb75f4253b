/**
 * output.ts builds its logger from `consola/core`, which has no default level, so style.ts's `consolaLevel` gives it
 * the one consola's full entry point starts at (issue 18: the full entry point cost the `up` process its fancy
 * reporter for nothing). Each case runs in a fresh process, as consola reads the environment when it is imported.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");
const SCRIPT = `
import { createConsola } from "consola";
import { consolaLevel } from "./src/cli/style.ts";
// String(): JSON would write NaN as null.
console.log(JSON.stringify([String(createConsola().level), String(consolaLevel(process.env))]));
`;

function levels(env: Record<string, string>): [number, number] {
  const base = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/" };
  const result = Bun.spawnSync([process.execPath, "-e", SCRIPT], { cwd: ROOT, env: { ...base, ...env } });
  if (result.exitCode !== 0) throw new Error(result.stderr.toString());
  return (JSON.parse(result.stdout.toString()) as string[]).map(Number) as [number, number];
}

describe("consolaLevel is the level consola's full entry point starts at", () => {
  test.each([
    ["nothing set", {}, 3],
    ["DEBUG=1", { DEBUG: "1" }, 4],
    ["DEBUG=false", { DEBUG: "false" }, 3],
    ["DEBUG empty", { DEBUG: "" }, 3],
    ["NODE_ENV=test", { NODE_ENV: "test" }, 1],
    ["TEST=1", { TEST: "1" }, 1],
    ["DEBUG wins over TEST", { DEBUG: "1", TEST: "1" }, 4],
    ["CONSOLA_LEVEL=0", { CONSOLA_LEVEL: "0" }, 0],
    ["CONSOLA_LEVEL=5 over DEBUG", { CONSOLA_LEVEL: "5", DEBUG: "1" }, 5],
  ])("%s", (_name, env, expected) => {
    const [theirs, ours] = levels(env);
    expect(theirs).toBe(expected);
    expect(ours).toBe(theirs);
  });

  test("a CONSOLA_LEVEL that is no number is NaN in both, as consola parses it", () => {
    const [theirs, ours] = levels({ CONSOLA_LEVEL: "verbose" });
    expect(theirs).toBeNaN();
    expect(ours).toBeNaN();
  });
});
