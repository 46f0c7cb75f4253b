import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { ExitCode, GotunnelError } from "../../src/core/errors.ts";

const made: string[] = [];

afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-config-errors-"));
  made.push(dir);
  return dir;
}

/** Writes `files` into a fresh project and returns what loading it throws, and the project dir. */
async function failure(
  files: Record<string, string>,
  env: Record<string, string> = {},
): Promise<{ error: GotunnelError; dir: string }> {
  const dir = tempDir();
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  try {
    await loadConfig({ cwd: dir, env, userConfigDir: tempDir() });
  } catch (error) {
    if (error instanceof GotunnelError) return { error, dir };
    throw error;
  }
  throw new Error("expected loadConfig to reject");
}

describe("files that cannot be parsed or imported → E_CONFIG_LOAD naming the file", () => {
  test("a syntax error in TS reports the file, line and column", async () => {
    const { error, dir } = await failure({
      "gotunnel.config.ts": 'export default {\n  routes: { "a.local": 3000,, },\n};\n',
    });
    expect(error.code).toBe("E_CONFIG_LOAD");
    expect(error.exitCode).toBe(ExitCode.config);
    expect(error.message).toStartWith(`Could not load ${join(dir, "gotunnel.config.ts")}:\n`);
    expect(error.message).toMatch(/line 2, column \d+: /);
    expect(error.hint).toContain("export default defineConfig(");
  });

  test("a TS config that throws while loading reports the thrown message", async () => {
    const { error, dir } = await failure({ "gotunnel.config.ts": 'throw new Error("no PORT in .env");\n' });
    expect(error.code).toBe("E_CONFIG_LOAD");
    expect(error.message).toBe(`Could not load ${join(dir, "gotunnel.config.ts")}:\n  no PORT in .env`);
  });

  test("a TS config without a default export says so", async () => {
    const { error, dir } = await failure({ "gotunnel.config.ts": "export const routes = { a: 1 };\n" });
    expect(error.message).toBe(`${join(dir, "gotunnel.config.ts")} has no default export.`);
    expect(error.hint).toContain('import { defineConfig } from "gotunnel"');
  });

  test("an import of a package the project does not have is a load error, not a crash", async () => {
    const { error, dir } = await failure({
      "gotunnel.config.mjs": 'import "./missing-helper.mjs";\nexport default {};\n',
    });
    expect(error.code).toBe("E_CONFIG_LOAD");
    expect(error.message).toContain(join(dir, "gotunnel.config.mjs"));
    expect(error.message).toContain("missing-helper.mjs");
  });

  test("bad YAML reports the file and the parser's position", async () => {
    const { error, dir } = await failure({ "gotunnel.config.yaml": "routes:\n  a: 1\n b: [\n" });
    expect(error.code).toBe("E_CONFIG_LOAD");
    expect(error.message).toContain(join(dir, "gotunnel.config.yaml"));
    expect(error.message).toContain("bad indentation of a mapping entry (3:2)");
    expect(error.hint).toBe("Fix the YAML syntax at the line shown.");
  });

  test("bad TOML and bad JSON report the file and the parser's message", async () => {
    const toml = await failure({ "gotunnel.config.toml": "[routes]\na = = 1\n" });
    expect(toml.error.message).toContain(join(toml.dir, "gotunnel.config.toml"));
    expect(toml.error.message).toContain("Invalid TOML document");
    const json = await failure({ "gotunnel.config.json": '{ "routes": { "a": 1, } }' });
    expect(json.error.message).toContain(join(json.dir, "gotunnel.config.json"));
    expect(json.error.message).toContain("JSON Parse error");
    expect(json.error.hint).toContain("trailing commas");
  });

  test("a broken package.json is named, with a hint about the gotunnel key", async () => {
    const { error, dir } = await failure({ "package.json": '{ "name": ' });
    expect(error.code).toBe("E_CONFIG_LOAD");
    expect(error.message).toContain(join(dir, "package.json"));
    expect(error.hint).toContain('"gotunnel" key');
  });
});

describe("invalid values → E_CONFIG_INVALID naming file, field path, found value and what is valid", () => {
  test("wrong types in YAML, all at once, one per line", async () => {
    const { error, dir } = await failure({
      "gotunnel.config.yaml": "routes:\n  web: true\n  api: 70000\nproxy:\n  httpPort: abc\n  httpsPort: 70000\n",
    });
    const file = join(dir, "gotunnel.config.yaml");
    expect(error.code).toBe("E_CONFIG_INVALID");
    expect(error.message.split("\n")).toEqual([
      "Invalid gotunnel config (4 problems):",
      `  ${file}: proxy.httpPort: expected an integer port from 0 to 65535 (found "abc")`,
      `  ${file}: proxy.httpsPort: expected an integer port from 0 to 65535 (found 70000)`,
      `  ${file}: routes.api: expected an integer port from 1 to 65535 (found 70000)`,
      expect.stringContaining(`  ${file}: routes.web: expected a port, a URL (e.g. 3000,`),
    ]);
    expect(error.hint).toContain("Fix each field listed above.");
  });

  test("an unknown key typo in JSON gets a suggestion", async () => {
    const { error, dir } = await failure({ "gotunnel.config.json": '{ "route": { "a": 1 } }' });
    expect(error.message).toContain(
      `${join(dir, "gotunnel.config.json")}: route: unknown key. Did you mean "routes"? Valid keys: version, routes, proxy, log`,
    );
  });

  test("bad route names in TOML name the exact problem", async () => {
    const { error, dir } = await failure({
      "gotunnel.config.toml": '[routes]\n"my app" = 3000\n"-a.local" = 3001\n"under_score" = 3002\n',
    });
    const file = join(dir, "gotunnel.config.toml");
    expect(error.message).toContain(`${file}: routes["my app"]: invalid route name: it contains a space at position 3`);
    expect(error.message).toContain(`${file}: routes["-a.local"]: invalid route name: label "-a" starts with a hyphen`);
    expect(error.message).toContain(`${file}: routes.under_score: invalid route name: it contains an underscore "_"`);
  });

  test("package.json problems are placed under the gotunnel key", async () => {
    const { error, dir } = await failure({ "package.json": '{ "gotunnel": { "proxy": { "httpsPort": "443" } } }' });
    expect(error.message).toContain(
      `${join(dir, "package.json")}: gotunnel.proxy.httpsPort: expected an integer port from 0 to 65535 (found "443")`,
    );
  });

  test(".gotunnelrc problems name the rc file, and the hint explains its dotted keys", async () => {
    const { error, dir } = await failure({ ".gotunnelrc": "routes.api.myapp.local=3000\n" });
    expect(error.message).toContain(`${join(dir, ".gotunnelrc")}: routes.api.myapp: unknown key.`);
    expect(error.message).toContain(`${join(dir, ".gotunnelrc")}: routes.api.target: is required`);
    expect(error.hint).toContain("In .gotunnelrc a dot in a key nests");
  });

  test("issues from several sources are reported together, each with its source", async () => {
    const { error, dir } = await failure(
      { "gotunnel.config.json": '{ "log": { "format": "xml" } }', "package.json": '{ "gotunnel": { "routes": 1 } }' },
      { GOTUNNEL_PROXY_HTTP_PORT: "abc", GOTUNNEL_LOG_FORMAT: "yaml" },
    );
    expect(error.message.split("\n")).toEqual([
      "Invalid gotunnel config (4 problems):",
      '  environment variable GOTUNNEL_LOG_FORMAT: expected "text" or "json" (found "yaml")',
      '  environment variable GOTUNNEL_PROXY_HTTP_PORT: expected an integer port from 0 to 65535 (found "abc")',
      `  ${join(dir, "gotunnel.config.json")}: log.format: expected "text" or "json" (found "xml")`,
      `  ${join(dir, "package.json")}: gotunnel.routes: expected an object of route names, e.g. { "myapp.local": 3000 } (found 1)`,
    ]);
  });

  test("an invalid flag value is attributed to the command line", async () => {
    const dir = tempDir();
    const promise = loadConfig({
      cwd: dir,
      env: {},
      userConfigDir: tempDir(),
      overrides: { proxy: { httpsPort: -1 } },
    });
    await expect(promise).rejects.toThrow(
      "command-line flags: proxy.httpsPort: expected an integer port from 0 to 65535 (found -1)",
    );
  });
});
