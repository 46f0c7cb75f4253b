import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { envLayer } from "../../src/config/env.ts";
import { loadConfig, resolveConfig } from "../../src/config/load.ts";
import { LAN_DEFAULT, validateLayer } from "../../src/config/schema.ts";
import { GotunnelError } from "../../src/core/errors.ts";
import { bindHostFor, isLanAllowed } from "../../src/mdns/lan.ts";

const SOURCE = "/project/gotunnel.config.ts";

function problems(input: unknown): string[] {
  try {
    resolveConfig(input, SOURCE);
  } catch (error) {
    if (error instanceof GotunnelError)
      return error.message
        .split("\n")
        .slice(1)
        .map((line) => line.trim());
    throw error;
  }
  throw new Error("expected the config to be rejected");
}

describe("config: lan", () => {
  test("a route's lan is kept when set and absent otherwise (so the global setting applies)", () => {
    const config = resolveConfig({ routes: { a: 3000, b: { target: 3001, lan: false }, c: { target: 3002 } } }, SOURCE);
    expect(config.routes.map((route) => [route.name, route.lan])).toEqual([
      ["a.local", undefined],
      ["b.local", false],
      ["c.local", undefined],
    ]);
    expect("lan" in config.routes[0]!).toBe(false);
  });

  test("the global lan defaults to true and is reported only by the layer that sets it", () => {
    expect(LAN_DEFAULT).toBe(true);
    expect(validateLayer({ lan: false }).value?.lan).toBe(false);
    expect(validateLayer({ routes: {} }).value && "lan" in validateLayer({ routes: {} }).value!).toBe(false);
  });

  test("non-boolean values are rejected with the field path", () => {
    expect(problems({ lan: "yes" })).toEqual([`${SOURCE}: lan: expected true or false (found "yes")`]);
    expect(problems({ routes: { a: { target: 1, lan: 1 } } })).toEqual([
      `${SOURCE}: routes.a.lan: expected true or false (found 1)`,
    ]);
  });

  test("lan is a known key: a typo gets it as a suggestion", () => {
    expect(problems({ routes: { a: { target: 1, lann: true } } })).toEqual([
      `${SOURCE}: routes.a.lann: unknown key. Did you mean "lan"? Valid keys: target, targets, policy, health, https, headers, preserveHost, lan, rewriteOrigin, command, cwd, env, port, waitTimeout`,
    ]);
  });

  test("the resolved config drives the LAN policy helpers", () => {
    const config = resolveConfig({ routes: { a: 3000, b: { target: 3001, lan: false } } }, SOURCE);
    expect(bindHostFor(config)).toBe("0.0.0.0");
    expect(isLanAllowed(config.routes[1], "192.168.1.50", config.lan)).toBe(false);
    expect(isLanAllowed(config.routes[0], "192.168.1.50", config.lan)).toBe(true);
    const local = resolveConfig({ routes: { b: { target: 3001, lan: false } } }, SOURCE);
    expect(bindHostFor(local)).toBe("127.0.0.1");
  });
});

describe("GOTUNNEL_LAN", () => {
  const lanOf = (value: string | undefined) => envLayer({ GOTUNNEL_LAN: value }).raw.lan;

  test("1/true/yes/on and 0/false/no/off, any case, set the global lan; empty or absent leaves it unset", () => {
    expect(["1", "true", "YES", " on "].map(lanOf)).toEqual([true, true, true, true]);
    expect(["0", "false", "No", "OFF"].map(lanOf)).toEqual([false, false, false, false]);
    expect(envLayer({ GOTUNNEL_LAN: "" }).raw).toEqual({});
    expect(envLayer({}).raw).toEqual({});
  });

  test("it wins over a config file, and a bad value is a config error naming the variable", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gotunnel-lan-env-"));
    try {
      writeFileSync(join(dir, "gotunnel.config.json"), JSON.stringify({ routes: { a: 3000 }, lan: true }));
      const load = (GOTUNNEL_LAN: string) => loadConfig({ cwd: dir, env: { GOTUNNEL_LAN }, userConfigDir: dir });
      expect((await load("0")).config.lan).toBe(false);
      expect((await load("")).config.lan).toBe(true);
      const error = await load("maybe").catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(GotunnelError);
      expect((error as GotunnelError).message).toContain(
        'environment variable GOTUNNEL_LAN: expected true or false (found "maybe")',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
