/**
 * Profiles: the chosen one is merged over its file the way c12 merges layers (objects key by key, the profile
 * winning, null keeping the base), arrays replaced; `--profile` beats GOTUNNEL_PROFILE; an unknown name is an E_USAGE
 * error listing the profiles and guessing the one meant.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { chooseProfile, mergeLayers } from "../../src/config/profiles.ts";
import { GotunnelError } from "../../src/core/errors.ts";

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-profiles-"));
  made.push(dir);
  return dir;
}

function project(files: Record<string, string>): string {
  const dir = tempDir();
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const CONFIG = {
  routes: {
    "app.local": { target: 3000, headers: { "x-base": "1" }, command: ["vite", "--open"] },
    "docs.local": 4000,
  },
  proxy: { httpsPort: 8443 },
  profiles: {
    demo: {
      routes: { "app.local": { target: 3001, command: ["vite", "preview"] }, "demo.local": 5000 },
      proxy: { httpPort: 8080 },
      lan: false,
    },
    ci: { routes: { "app.local": { target: null } } },
  },
};

async function load(dir: string, options: { profile?: string; env?: Record<string, string> } = {}) {
  return loadConfig({
    cwd: dir,
    env: options.env ?? {},
    userConfigDir: tempDir(),
    overrides: options.profile === undefined ? {} : { profile: options.profile },
  });
}

function routes(config: Awaited<ReturnType<typeof load>>["config"]) {
  return Object.fromEntries(config.routes.map((route) => [route.name, route.target.port]));
}

describe("mergeLayers", () => {
  test("objects merge key by key with the high layer winning; null keeps the low value; arrays are replaced", () => {
    const merged = mergeLayers(
      { a: { b: 2, c: null }, list: [3], d: "high" },
      { a: { b: 1, c: "kept", e: true }, list: [1, 2], d: "low", f: 0 },
    );
    expect(merged).toEqual({ a: { b: 2, c: "kept", e: true }, list: [3], d: "high", f: 0 });
  });
});

describe("choosing a profile", () => {
  test("--profile beats GOTUNNEL_PROFILE; an empty value is unset", () => {
    expect(chooseProfile("demo", { GOTUNNEL_PROFILE: "ci" })).toEqual({ name: "demo", origin: "--profile" });
    expect(chooseProfile(undefined, { GOTUNNEL_PROFILE: "ci" })).toEqual({ name: "ci", origin: "GOTUNNEL_PROFILE" });
    expect(chooseProfile(undefined, { GOTUNNEL_PROFILE: "" })).toBeUndefined();
    expect(chooseProfile(false, { GOTUNNEL_PROFILE: "ci" })).toBeUndefined();
  });

  test("without a profile the base is used and the profiles are only validated", async () => {
    const loaded = await load(project({ "gotunnel.config.json": JSON.stringify(CONFIG) }));
    expect(routes(loaded.config)).toEqual({ "app.local": 3000, "docs.local": 4000 });
    expect(loaded.profile).toBeUndefined();
  });

  test("the profile merges over its file: changed and added routes, merged fields, replaced argv", async () => {
    const loaded = await load(project({ "gotunnel.config.json": JSON.stringify(CONFIG) }), { profile: "demo" });
    expect(routes(loaded.config)).toEqual({ "app.local": 3001, "demo.local": 5000, "docs.local": 4000 });
    const app = loaded.config.routes.find((route) => route.name === "app.local");
    expect(app?.headers).toEqual({ "x-base": "1" });
    expect(app?.dev?.command).toEqual(["vite", "preview"]);
    expect(loaded.config.proxy).toMatchObject({ httpPort: 8080, httpsPort: 8443 });
    expect(loaded.config.lan).toBe(false);
    expect(loaded.profile).toBe("demo");
  });

  test("GOTUNNEL_PROFILE chooses it too, and null in a profile keeps the base value", async () => {
    const loaded = await load(project({ "gotunnel.config.json": JSON.stringify(CONFIG) }), {
      env: { GOTUNNEL_PROFILE: "ci" },
    });
    expect(routes(loaded.config)).toEqual({ "app.local": 3000, "docs.local": 4000 });
    expect(loaded.profile).toBe("ci");
  });

  test("an unknown profile is E_USAGE naming the profiles, the file and the closest name", async () => {
    const dir = project({ "gotunnel.config.json": JSON.stringify(CONFIG) });
    const error = await load(dir, { profile: "dmeo" }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GotunnelError);
    const { code, message, hint, exitCode } = error as GotunnelError;
    expect(code).toBe("E_USAGE");
    expect(exitCode).toBe(2);
    expect(message).toBe(
      `no profile named "dmeo" (from --profile): the profiles are ci, demo (in ${join(dir, "gotunnel.config.json")})`,
    );
    expect(hint).toBe("did you mean `--profile demo`?");
  });

  test("from GOTUNNEL_PROFILE with no profiles anywhere, the error says so and how to add one", async () => {
    const dir = project({ "gotunnel.config.json": JSON.stringify({ routes: { a: 3000 } }) });
    const error = (await load(dir, { env: { GOTUNNEL_PROFILE: "demo" } }).catch((e: unknown) => e)) as GotunnelError;
    expect(error.message).toBe('no profile named "demo" (from GOTUNNEL_PROFILE): no config file here defines profiles');
    expect(error.hint).toContain('profiles: { "demo": { routes: { … } } }');
  });

  test("a profile's problems name the file and the profile; a bad profile name or field is reported", async () => {
    const bad = { routes: {}, profiles: { demo: { routes: { "x.local": "nope" } }, "-x": {}, ok: { route: {} } } };
    const dir = project({ "gotunnel.config.json": JSON.stringify(bad) });
    const error = (await load(dir, { profile: "demo" }).catch((e: unknown) => e)) as GotunnelError;
    expect(error.code).toBe("E_CONFIG_INVALID");
    const file = join(dir, "gotunnel.config.json");
    expect(error.message).toContain(`${file} (profile demo): routes["x.local"]:`);
    expect(error.message).toContain(`${file} (profile demo): profiles["-x"]: expected a profile name`);
    expect(error.message).toContain(`${file} (profile demo): profiles.ok.route: unknown key. Did you mean "routes"?`);
  });
});
