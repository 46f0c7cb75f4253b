/** cli/backends.ts: `start`'s -p/--port/--target words, in order, and --policy. */
import { describe, expect, test } from "bun:test";
import { backendsFrom, backendWords, policyFlag } from "../../src/cli/backends.ts";
import { GotunnelError } from "../../src/core/errors.ts";

function usageError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof GotunnelError && error.code === "E_USAGE") return error.message;
    throw error;
  }
  throw new Error("expected an E_USAGE error");
}

describe("start's backends", () => {
  test("every -p, --port and --target, in the order given, both spellings of a value; nothing after --", () => {
    const words = ["-d", "api", "-p", "8080", "--target", "http://127.0.0.1:9090", "--port=8081", "--", "-p", "1"];
    expect(backendWords(words)).toEqual([
      { flag: "port", value: "8080" },
      { flag: "target", value: "http://127.0.0.1:9090" },
      { flag: "port", value: "8081" },
    ]);
    expect(backendsFrom(words)).toEqual([8080, "http://127.0.0.1:9090", 8081]);
  });

  test("none, a bad port, a bad target and too many are usage errors naming the flag", () => {
    expect(usageError(() => backendsFrom(["-d", "api"]))).toBe("missing required argument: --port (or --target URL)");
    expect(usageError(() => backendsFrom(["-p", "0"]))).toContain("--port must be your dev server's port");
    expect(usageError(() => backendsFrom(["-p", "80x"]))).toContain("--port expects a port number");
    expect(usageError(() => backendsFrom(["--target", "ftp://x:1"]))).toContain('--target "ftp://x:1": the scheme');
    const many = Array.from({ length: 17 }, (_, i) => ["-p", String(8000 + i)]).flat();
    expect(usageError(() => backendsFrom(many))).toBe("a route has at most 16 backends, got 17");
  });

  test("--policy is one of the three, and only with several backends", () => {
    expect(policyFlag(undefined, 1)).toBeUndefined();
    expect(policyFlag("least_conn", 2)).toBe("least_conn");
    expect(usageError(() => policyFlag("random", 2))).toBe('--policy "random" is not a policy');
    expect(usageError(() => policyFlag("first", 1))).toBe("--policy needs several backends");
  });
});
