/** Several backends in the config: `targets`, `policy`, `health`, and the errors for what does not go together. */
import { describe, expect, test } from "bun:test";
import { resolveConfig } from "../../src/config/load.ts";
import { GotunnelError } from "../../src/core/errors.ts";

const SOURCE = "/project/gotunnel.json";

function problems(input: unknown): string[] {
  try {
    resolveConfig(input, SOURCE);
  } catch (error) {
    if (!(error instanceof GotunnelError)) throw error;
    return error.message
      .split("\n")
      .slice(1)
      .map((line) => line.trim());
  }
  throw new Error("expected the config to be rejected");
}

const route = (input: unknown) => resolveConfig({ routes: { "api.local": input } }, SOURCE).routes[0];

describe("targets", () => {
  test("several targets: the first is also `target`, the policy and health check are kept", () => {
    const resolved = route({
      targets: [8080, "http://127.0.0.1:8081"],
      policy: "least_conn",
      health: { path: "/healthz", interval: "2s" },
    });
    expect(resolved?.target.origin).toBe("http://localhost:8080");
    expect(resolved?.targets?.map((target) => target.origin)).toEqual([
      "http://localhost:8080",
      "http://127.0.0.1:8081",
    ]);
    expect(resolved?.policy).toBe("least_conn");
    expect(resolved?.health).toEqual({ path: "/healthz", intervalMs: 2000 });
  });

  test("no policy is round_robin at run time (unset here); no interval is 5 s", () => {
    const resolved = route({ targets: [8080, 8081], health: { path: "/up" } });
    expect(resolved?.policy).toBeUndefined();
    expect(resolved?.health).toEqual({ path: "/up", intervalMs: 5000 });
  });

  test("one target in `targets` is a plain route", () => {
    const resolved = route({ targets: [8080] });
    expect(resolved?.target.port).toBe(8080);
    expect(resolved?.targets).toBeUndefined();
  });

  test("`target` and `targets` together is an error that says which to keep", () => {
    expect(problems({ routes: { "api.local": { target: 8080, targets: [8081, 8082] } } })).toEqual([
      `${SOURCE}: routes["api.local"].targets: give \`target\` (one backend) or \`targets\` (several, e.g. targets: [8080, 8081]), not both`,
    ]);
  });

  test("policy or health without targets, a bad policy, a bad target, a bad health check", () => {
    const lines = problems({
      routes: {
        "a.local": { target: 1, policy: "first" },
        "b.local": { targets: [1, 2], policy: "random" },
        "c.local": { targets: [1, "ftp://x:2"] },
        "d.local": { targets: [1, 2], health: { path: "healthz", interval: "soon", every: 1 } },
        "e.local": { targets: [] },
      },
    });
    const text = lines.join("\n");
    expect(text).toContain('routes["a.local"].policy: only applies to a route with several `targets` (found "first")');
    expect(text).toContain('routes["b.local"].policy: expected one of "round_robin", "least_conn", "first"');
    expect(text).toContain('routes["c.local"].targets["1"]: the scheme is "ftp:"');
    expect(text).toContain('routes["d.local"].health.path: expected a path starting with "/"');
    expect(text).toContain('routes["d.local"].health.interval: expected a duration such as "5s"');
    expect(text).toContain('routes["d.local"].health.every: unknown key. Valid keys: path, interval');
    expect(text).toContain('routes["e.local"].targets: expected an array of 1 to 16 targets');
  });
});
