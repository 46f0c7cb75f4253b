import { afterEach, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { envLayer, isDebugEnabled } from "../../src/config/env.ts";
import { type LoadedConfig, loadConfig, resolveConfig } from "../../src/config/load.ts";

const FIXTURES = join(import.meta.dir, "..", "fixtures", "config", "precedence");
const made: string[] = [];

afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-precedence-"));
  made.push(dir);
  return dir;
}

/** A project dir (with the project fixture unless `withProject` is false) and a user config dir with the user fixture. */
function setup(withProject = true): { projectDir: string; userConfigDir: string } {
  const projectDir = tempDir();
  writeFileSync(join(projectDir, "package.json"), "{}");
  if (withProject) cpSync(join(FIXTURES, "project"), projectDir, { recursive: true });
  const userConfigDir = tempDir();
  cpSync(join(FIXTURES, "user"), userConfigDir, { recursive: true });
  return { projectDir, userConfigDir };
}

function origins(loaded: LoadedConfig): Record<string, string> {
  return Object.fromEntries(loaded.config.routes.map((route) => [route.name, route.target.origin]));
}

describe("precedence: flags > env > project file > user file > defaults", () => {
  test("defaults apply to what no layer sets", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "package.json"), "{}");
    const loaded = await loadConfig({ cwd: dir, env: {}, userConfigDir: tempDir() });
    expect(loaded.config.proxy).toEqual({ httpPort: 80, httpsPort: 443, host: "127.0.0.1" });
    expect(loaded.config.log).toEqual({ format: "text", level: "info" });
  });

  test("the user file overrides defaults", async () => {
    const { projectDir, userConfigDir } = setup(false);
    const loaded = await loadConfig({ cwd: projectDir, env: {}, userConfigDir });
    expect(loaded.config.proxy).toEqual({ httpPort: 8080, httpsPort: 8443, host: "0.0.0.0" });
    expect(loaded.config.log.format).toBe("json");
    expect(loaded.files).toEqual([join(userConfigDir, "config.yaml")]);
  });

  test("the project file overrides the user file field by field, and route by route", async () => {
    const { projectDir, userConfigDir } = setup();
    const loaded = await loadConfig({ cwd: projectDir, env: {}, userConfigDir });
    expect(loaded.config.proxy).toEqual({ httpPort: 8081, httpsPort: 8444, host: "0.0.0.0" });
    expect(loaded.config.log).toEqual({ format: "json", level: "info" });
    expect(origins(loaded)).toEqual({
      "myapp.local": "http://localhost:3000",
      "shared.local": "http://127.0.0.1:4001",
      "user-only.local": "http://localhost:5000",
    });
    expect(loaded.files).toEqual([join(projectDir, "gotunnel.config.ts"), join(userConfigDir, "config.yaml")]);
  });

  test("env overrides the project file", async () => {
    const { projectDir, userConfigDir } = setup();
    const env = {
      GOTUNNEL_PROXY_HTTP_PORT: "9080",
      GOTUNNEL_PROXY_HOST: "::1",
      GOTUNNEL_LOG_FORMAT: "text",
      DEBUG: "1",
    };
    const loaded = await loadConfig({ cwd: projectDir, env, userConfigDir });
    expect(loaded.config.proxy).toEqual({ httpPort: 9080, httpsPort: 8444, host: "::1" });
    expect(loaded.config.log).toEqual({ format: "text", level: "debug" });
  });

  test("flags override env, and flag routes override file routes of the same (normalized) name", async () => {
    const { projectDir, userConfigDir } = setup();
    const loaded = await loadConfig({
      cwd: projectDir,
      env: { GOTUNNEL_PROXY_HTTP_PORT: "9080", GOTUNNEL_PROXY_HTTPS_PORT: "9443" },
      userConfigDir,
      overrides: { proxy: { httpPort: 10080, host: undefined }, log: { level: "debug" }, routes: { Shared: 5555 } },
    });
    expect(loaded.config.proxy).toEqual({ httpPort: 10080, httpsPort: 9443, host: "0.0.0.0" });
    expect(loaded.config.log).toEqual({ format: "json", level: "debug" });
    expect(origins(loaded)["shared.local"]).toBe("http://localhost:5555");
  });

  test("within a project: gotunnel.config.* > .gotunnelrc > package.json", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "gotunnel.config.json"), '{ "routes": { "a": 1001 } }');
    writeFileSync(join(dir, ".gotunnelrc"), "routes.a=2001\nroutes.b=2002\nproxy.httpsPort=8443\n");
    writeFileSync(
      join(dir, "package.json"),
      '{ "gotunnel": { "routes": { "a": 3001, "b": 3002, "c": 3003 }, "proxy": { "httpsPort": 9443, "httpPort": 9080 } } }',
    );
    const loaded = await loadConfig({ cwd: dir, env: {}, userConfigDir: tempDir() });
    expect(origins(loaded)).toEqual({
      "a.local": "http://localhost:1001",
      "b.local": "http://localhost:2002",
      "c.local": "http://localhost:3003",
    });
    expect(loaded.config.proxy).toEqual({ httpPort: 9080, httpsPort: 8443, host: "127.0.0.1" });
    expect(loaded.files).toEqual([
      join(dir, "gotunnel.config.json"),
      join(dir, ".gotunnelrc"),
      join(dir, "package.json"),
    ]);
  });

  test("without userConfigDir, the user file is found under GOTUNNEL_HOME", async () => {
    const home = tempDir();
    mkdirSync(join(home, "config"));
    writeFileSync(join(home, "config", "config.json"), '{ "proxy": { "httpsPort": 7443 } }');
    const dir = tempDir();
    writeFileSync(join(dir, "package.json"), "{}");
    const loaded = await loadConfig({ cwd: dir, env: { GOTUNNEL_HOME: home } });
    expect(loaded.config.proxy.httpsPort).toBe(7443);
    expect(loaded.files).toEqual([join(home, "config", "config.json")]);
  });
});

describe("environment variables", () => {
  test("empty values count as unset; digit strings become numbers; others stay strings for the schema", () => {
    const layer = envLayer({
      GOTUNNEL_PROXY_HTTP_PORT: "",
      GOTUNNEL_PROXY_HTTPS_PORT: "8443",
      GOTUNNEL_PROXY_HOST: "::1",
    });
    expect(layer.raw).toEqual({ proxy: { httpsPort: 8443, host: "::1" } });
    expect(envLayer({ GOTUNNEL_PROXY_HTTP_PORT: "80a" }).raw).toEqual({ proxy: { httpPort: "80a" } });
    expect(layer.label(["proxy", "httpsPort"])).toBe("environment variable GOTUNNEL_PROXY_HTTPS_PORT");
    expect(layer.label(["proxy", "httpPort"])).toBeUndefined();
  });

  test("the client timeouts come from GOTUNNEL_KEEPALIVE_TIMEOUT and GOTUNNEL_CLIENT_BODY_TIMEOUT, in seconds", () => {
    const layer = envLayer({ GOTUNNEL_KEEPALIVE_TIMEOUT: "30", GOTUNNEL_CLIENT_BODY_TIMEOUT: "0" });
    expect(layer.raw).toEqual({ proxy: { keepAliveTimeout: 30, clientBodyTimeout: 0 } });
    expect(layer.label(["proxy", "keepAliveTimeout"])).toBe("environment variable GOTUNNEL_KEEPALIVE_TIMEOUT");
    expect(envLayer({ GOTUNNEL_CLIENT_BODY_TIMEOUT: "1m" }).raw).toEqual({ proxy: { clientBodyTimeout: "1m" } });
  });

  test("GOTUNNEL_HTTP2 is proxy.http2: 0/false/no/off and 1/true/yes/on, anything else left for the schema", () => {
    for (const [value, http2] of [
      ["0", false],
      ["off", false],
      ["No", false],
      ["1", true],
      ["TRUE", true],
    ] as const) {
      expect(envLayer({ GOTUNNEL_HTTP2: value }).raw).toEqual({ proxy: { http2 } });
    }
    expect(envLayer({ GOTUNNEL_HTTP2: "maybe" }).raw).toEqual({ proxy: { http2: "maybe" } });
    expect(envLayer({ GOTUNNEL_HTTP2: "0" }).label(["proxy", "http2"])).toBe("environment variable GOTUNNEL_HTTP2");
  });

  test("GOTUNNEL_DOCKER is discovery.docker, and a project file's value is merged with the other layers", () => {
    expect(envLayer({ GOTUNNEL_DOCKER: "1" }).raw).toEqual({ discovery: { docker: true } });
    expect(envLayer({ GOTUNNEL_DOCKER: "off" }).raw).toEqual({ discovery: { docker: false } });
    expect(envLayer({ GOTUNNEL_DOCKER: "1" }).label(["discovery", "docker"])).toBe(
      "environment variable GOTUNNEL_DOCKER",
    );
    expect(resolveConfig({ discovery: { docker: true } }, "gotunnel.config.json").discovery).toEqual({ docker: true });
    expect(resolveConfig({}, "gotunnel.config.json").discovery).toEqual({});
  });

  test.each([
    ["1", true],
    ["true", true],
    ["YES", true],
    ["on", true],
    ["*", true],
    ["gotunnel", true],
    ["express:*,gotunnel:*", true],
    ["0", false],
    ["false", false],
    ["", false],
    ["express:*", false],
  ])("DEBUG=%j → %p", (value, enabled) => {
    expect(isDebugEnabled(value)).toBe(enabled);
  });
});
