/**
 * `import { defineConfig } from "gotunnel"` inside a `bun build --compile` binary, in a project with no
 * node_modules at all: the runtime plugin in src/config/load.ts must serve the import, and Bun's own import()
 * (not jiti) must compile the TS config.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const ENTRY = join(import.meta.dir, "..", "fixtures", "config", "compiled-entry.ts");
/** Compiling embeds the Bun runtime (~100 MB written); give it room on a slow, shared 2-core machine. */
const BUILD_TIMEOUT_MS = 120_000;

let workDir = "";
let binary = "";

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), "gotunnel-compiled-"));
  binary = join(workDir, "bin", "gotunnel-config");
  const build = Bun.spawnSync([process.execPath, "build", "--compile", ENTRY, "--outfile", binary], {
    stdout: "pipe",
    stderr: "pipe",
    // bun build inlines NODE_ENV, and bun test set it to "test": build with an explicit one (DESIGN.md).
    env: { ...process.env, NODE_ENV: "production" },
  });
  if (build.exitCode !== 0 || !existsSync(binary)) {
    throw new Error(`bun build --compile failed (${build.exitCode}):\n${build.stdout}\n${build.stderr}`);
  }
}, BUILD_TIMEOUT_MS);

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** A fresh project dir (with its own package.json so discovery stops there) holding `files`. */
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(workDir, "project-"));
  writeFileSync(join(dir, "package.json"), '{ "name": "user-app", "private": true }');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

function run(cwd: string): { exitCode: number; output: Record<string, unknown>; stderr: string } {
  const home = join(workDir, "home");
  const result = Bun.spawnSync([binary], { cwd, env: { GOTUNNEL_HOME: home, PATH: "/usr/bin:/bin" } });
  const stdout = result.stdout.toString();
  let output: Record<string, unknown>;
  try {
    output = JSON.parse(stdout);
  } catch (error) {
    throw new Error(`binary printed no JSON (exit ${result.exitCode}): ${stdout}\n${result.stderr}`, { cause: error });
  }
  return { exitCode: result.exitCode, output, stderr: result.stderr.toString() };
}

function routeOrigins(output: Record<string, unknown>): Record<string, string> {
  const config = output.config as { routes: { name: string; target: { origin: string } }[] };
  return Object.fromEntries(config.routes.map((route) => [route.name, route.target.origin]));
}

describe("config loading inside a compiled binary", () => {
  test("the project really has no node_modules anywhere above it", () => {
    for (let dir = workDir; dirname(dir) !== dir; dir = dirname(dir)) {
      expect(existsSync(join(dir, "node_modules"))).toBe(false);
    }
  });

  test("a TS config importing defineConfig from gotunnel, with types and a relative import", () => {
    const dir = project({
      "config/ports.ts": "export const API_PORT: number = 8080;\n",
      "gotunnel.config.ts": [
        'import { defineConfig } from "gotunnel";',
        'import { API_PORT } from "./config/ports.ts";',
        "interface Extra { note: string }",
        'const extra: Extra = { note: "types are stripped by Bun" };',
        "export default defineConfig({",
        `  routes: { "myapp.local": 3000, "api.myapp.local": { target: \`http://127.0.0.1:\${API_PORT}\` } },`,
        "  proxy: { httpsPort: extra.note.length > 0 ? 8443 : 443 },",
        "});",
      ].join("\n"),
    });
    const { exitCode, output } = run(dir);
    expect(exitCode).toBe(0);
    expect(routeOrigins(output)).toEqual({
      "myapp.local": "http://localhost:3000",
      "api.myapp.local": "http://127.0.0.1:8080",
    });
    expect((output.config as { proxy: { httpsPort: number } }).proxy.httpsPort).toBe(8443);
    expect(output.files).toEqual([join(dir, "gotunnel.config.ts")]);
  });

  test("a .mjs config importing defineConfig", () => {
    const dir = project({
      "gotunnel.config.mjs":
        'import { defineConfig } from "gotunnel";\nexport default defineConfig({ routes: { web: 5173 } });\n',
    });
    const { exitCode, output } = run(dir);
    expect(exitCode).toBe(0);
    expect(routeOrigins(output)).toEqual({ "web.local": "http://localhost:5173" });
  });

  test("YAML and .gotunnelrc load through c12 inside the binary", () => {
    const dir = project({ "gotunnel.config.yaml": "routes:\n  docs.local: 4000\n", ".gotunnelrc": "routes.rc=4001\n" });
    const { exitCode, output } = run(dir);
    expect(exitCode).toBe(0);
    expect(routeOrigins(output)).toEqual({
      "docs.local": "http://localhost:4000",
      "rc.local": "http://localhost:4001",
    });
  });

  test("a syntax error is reported as E_CONFIG_LOAD with the file and line, exit code 3", () => {
    const dir = project({
      "gotunnel.config.ts":
        'import { defineConfig } from "gotunnel";\nexport default defineConfig({ routes: { a: 1,, } });\n',
    });
    const { exitCode, output } = run(dir);
    expect(exitCode).toBe(3);
    expect(output.code).toBe("E_CONFIG_LOAD");
    expect(output.message).toContain(join(dir, "gotunnel.config.ts"));
    expect(output.message).toContain("line 2, column");
  });

  test("an invalid value is reported as E_CONFIG_INVALID with file and field path, exit code 3", () => {
    const dir = project({
      "gotunnel.config.ts":
        'import { defineConfig } from "gotunnel";\nexport default defineConfig({ routes: { "a b": 3000 } });\n',
    });
    const { exitCode, output } = run(dir);
    expect(exitCode).toBe(3);
    expect(output.code).toBe("E_CONFIG_INVALID");
    expect(output.message).toContain(`${join(dir, "gotunnel.config.ts")}: routes["a b"]: invalid route name`);
  });
});
