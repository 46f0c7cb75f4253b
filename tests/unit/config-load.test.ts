import { afterEach, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type LoadedConfig, loadConfig } from "../../src/config/load.ts";
import { GotunnelError } from "../../src/core/errors.ts";

const FIXTURES = join(import.meta.dir, "..", "fixtures", "config");
const made: string[] = [];

afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-config-"));
  made.push(dir);
  return dir;
}

/** A temp project holding `files`; the user config dir is a separate empty temp dir unless given. */
function project(files: Record<string, string>): string {
  const dir = tempDir();
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

function load(cwd: string, options: Partial<Parameters<typeof loadConfig>[0]> = {}): Promise<LoadedConfig> {
  return loadConfig({ cwd, env: {}, userConfigDir: tempDir(), ...options });
}

function summary(loaded: LoadedConfig): Record<string, string> {
  return Object.fromEntries(loaded.config.routes.map((route) => [route.name, route.target.origin]));
}

describe("every supported format loads", () => {
  const both = { "myapp.local": "http://localhost:3000", "api.myapp.local": "http://127.0.0.1:8080" };
  test.each([
    ["ts", "gotunnel.config.ts", both],
    ["mts", "gotunnel.config.mts", both],
    ["js", "gotunnel.config.js", both],
    ["mjs", "gotunnel.config.mjs", both],
    ["json", "gotunnel.config.json", both],
    ["yaml", "gotunnel.config.yaml", both],
    ["yml", "gotunnel.config.yml", both],
    ["toml", "gotunnel.config.toml", both],
    ["rc", ".gotunnelrc", { "myapp.local": "http://localhost:3000", "api.local": "http://127.0.0.1:8080" }],
    ["package-json", "package.json", both],
  ])("%s", async (fixture, file, routes) => {
    const dir = tempDir();
    cpSync(join(FIXTURES, "formats", fixture), dir, { recursive: true });
    const loaded = await load(dir);
    expect(summary(loaded)).toEqual(routes);
    expect(loaded.files).toEqual([join(dir, file)]);
    expect(loaded.projectDir).toBe(dir);
  });

  test("the TS fixture's headers and typed values come through", async () => {
    const dir = tempDir();
    cpSync(join(FIXTURES, "formats", "ts"), dir, { recursive: true });
    const api = (await load(dir)).config.routes.find((route) => route.name === "api.myapp.local");
    expect(api?.headers).toEqual({ "x-from": "ts" });
  });

  test("a TS config can import its own relative modules", async () => {
    const dir = project({
      "ports.ts": "export const WEB_PORT = 3100;\n",
      "gotunnel.config.ts": `import { defineConfig } from "gotunnel";\nimport { WEB_PORT } from "./ports.ts";\nexport default defineConfig({ routes: { web: WEB_PORT } });\n`,
    });
    expect(summary(await load(dir))).toEqual({ "web.local": "http://localhost:3100" });
  });

  test("reloading a changed TS config returns the new content, not Bun's cached module", async () => {
    const dir = project({ "gotunnel.config.ts": "export default { routes: { web: 3000 } };\n" });
    expect(summary(await load(dir))).toEqual({ "web.local": "http://localhost:3000" });
    writeFileSync(join(dir, "gotunnel.config.ts"), "export default { routes: { web: 4000 } };\n");
    expect(summary(await load(dir))).toEqual({ "web.local": "http://localhost:4000" });
  });

  test("an empty YAML file (comments only) means no settings", async () => {
    const dir = project({ "gotunnel.config.yaml": "# nothing yet\n" });
    const loaded = await load(dir);
    expect(loaded.config.routes).toEqual([]);
    expect(loaded.files).toEqual([join(dir, "gotunnel.config.yaml")]);
  });

  test("no config file and no routes is not an error", async () => {
    const dir = project({ "package.json": '{ "name": "plain" }' });
    const loaded = await load(dir);
    expect(loaded).toEqual({
      config: {
        routes: [],
        proxy: { httpPort: 80, httpsPort: 443, host: "127.0.0.1" },
        log: { format: "text", level: "info" },
        observability: { environment: "development" },
        notify: [],
        discovery: {},
      },
      files: [],
      projectDir: dir,
      warnings: [],
    });
  });
});

describe("project discovery", () => {
  test("from a subdirectory, the nearest directory with a config is the project", async () => {
    const dir = project({ "gotunnel.config.json": '{ "routes": { "web": 3000 } }', "src/deep/.keep": "" });
    const loaded = await load(join(dir, "src", "deep"));
    expect(loaded.projectDir).toBe(dir);
    expect(summary(loaded)).toEqual({ "web.local": "http://localhost:3000" });
  });

  test("a package.json without config stops the search: a parent's config is not used", async () => {
    const dir = project({ "gotunnel.config.json": '{ "routes": { "web": 3000 } }', "packages/app/package.json": "{}" });
    const loaded = await load(join(dir, "packages", "app"));
    expect(loaded.projectDir).toBe(join(dir, "packages", "app"));
    expect(loaded.config.routes).toEqual([]);
  });

  test("two config files in one directory is an error naming both", async () => {
    const dir = project({ "gotunnel.config.ts": "export default {};", "gotunnel.config.yaml": "routes: {}" });
    const error = await rejection(load(dir));
    expect(error.code).toBe("E_CONFIG_LOAD");
    expect(error.message).toContain("gotunnel.config.ts, gotunnel.config.yaml");
    expect(error.message).toContain(dir);
    expect(error.hint).toContain("exactly one");
  });
});

describe("--config / GOTUNNEL_CONFIG", () => {
  test("loads exactly that file: project rc and package.json are skipped", async () => {
    const dir = project({
      "configs/dev.yaml": "routes:\n  dev: 3001\n",
      ".gotunnelrc": "routes.rc=3002\n",
      "package.json": '{ "gotunnel": { "routes": { "pkg": 3003 } } }',
    });
    const loaded = await load(dir, { overrides: { configFile: "configs/dev.yaml" } });
    expect(summary(loaded)).toEqual({ "dev.local": "http://localhost:3001" });
    expect(loaded.files).toEqual([join(dir, "configs", "dev.yaml")]);
    expect(loaded.projectDir).toBe(join(dir, "configs"));
  });

  test("GOTUNNEL_CONFIG works, and --config wins over it", async () => {
    const dir = project({ "a.json": '{ "routes": { "a": 1001 } }', "b.json": '{ "routes": { "b": 1002 } }' });
    const env = { GOTUNNEL_CONFIG: join(dir, "a.json") };
    expect(summary(await load(dir, { env }))).toEqual({ "a.local": "http://localhost:1001" });
    const both = await load(dir, { env, overrides: { configFile: join(dir, "b.json") } });
    expect(summary(both)).toEqual({ "b.local": "http://localhost:1002" });
  });

  test("a missing file is a clear error naming the path and the flag", async () => {
    const dir = project({});
    const error = await rejection(load(dir, { overrides: { configFile: "nope.ts" } }));
    expect(error.code).toBe("E_CONFIG_LOAD");
    expect(error.message).toBe(`Config file ${join(dir, "nope.ts")} (from --config) does not exist or is not a file.`);
    expect(error.hint).toContain("--config");
    const fromEnv = await rejection(load(dir, { env: { GOTUNNEL_CONFIG: "gone.yaml" } }));
    expect(fromEnv.message).toContain("(from GOTUNNEL_CONFIG)");
  });

  test("an unsupported extension is rejected with the supported list", async () => {
    const dir = project({ "gotunnel.ini": "routes.a=1" });
    const error = await rejection(load(dir, { overrides: { configFile: "gotunnel.ini" } }));
    expect(error.message).toContain("has an unsupported format");
    expect(error.hint).toBe("Use one of: .ts .mts .js .mjs .json .yaml .yml .toml.");
  });
});

async function rejection(promise: Promise<unknown>): Promise<GotunnelError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GotunnelError) return error;
    throw error;
  }
  throw new Error("expected loadConfig to reject");
}
