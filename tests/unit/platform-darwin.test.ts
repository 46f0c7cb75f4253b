/**
 * macOS's resolver-cache flush after a hosts change, through the command-runner seam: the exact argv, in order, only
 * on darwin, and a failing command is a warning with the fix, never an error that would undo a route change.
 */
import { describe, expect, test } from "bun:test";
import { DARWIN_RESOLVER_FLUSH, flushDarwinResolverCache } from "../../src/platform/darwin.ts";
import { flushResolverCache, resolverFlusher } from "../../src/platform/resolver-cache.ts";
import type { CommandRunner, RunResult } from "../../src/platform/runner.ts";

function recorder(reply: (argv: string[]) => Partial<RunResult> = () => ({})) {
  const calls: string[][] = [];
  const runner: CommandRunner = {
    which: () => undefined,
    async run(argv) {
      calls.push(argv);
      return { code: 0, stdout: "", stderr: "", ...reply(argv) };
    },
  };
  return { runner, calls };
}

describe("macOS resolver cache flush", () => {
  test("runs dscacheutil -flushcache, then killall -HUP mDNSResponder", async () => {
    const { runner, calls } = recorder();
    expect(await flushResolverCache("darwin", runner)).toEqual([]);
    expect(calls).toEqual([
      ["dscacheutil", "-flushcache"],
      ["killall", "-HUP", "mDNSResponder"],
    ]);
    expect(DARWIN_RESOLVER_FLUSH).toHaveLength(2);
  });

  test("a failing command is a warning naming it and the manual fix; the other still runs", async () => {
    const { runner, calls } = recorder((argv) =>
      argv[0] === "dscacheutil" ? { code: 1, stderr: "dscacheutil: operation not permitted\n" } : {},
    );
    const warnings = await flushDarwinResolverCache(runner);
    expect(calls).toHaveLength(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("`dscacheutil -flushcache` exited with 1 (dscacheutil: operation not permitted)");
    expect(warnings[0]).toContain("sudo killall -HUP mDNSResponder");
  });

  test("a missing program (exit 127) is a warning too, not a throw", async () => {
    const { runner } = recorder(() => ({ code: 127, stderr: "killall: not found" }));
    expect(await flushDarwinResolverCache(runner)).toHaveLength(2);
  });

  test.each(["linux", "win32", "freebsd"] as const)("%s: nothing is run", async (platform) => {
    const { runner, calls } = recorder();
    expect(await flushResolverCache(platform, runner)).toEqual([]);
    expect(calls).toEqual([]);
  });

  test("a daemon's flusher runs every time but logs each distinct warning once", async () => {
    const { runner, calls } = recorder((argv) => (argv[0] === "killall" ? { code: 1, stderr: "not permitted" } : {}));
    const flush = resolverFlusher("darwin", runner);
    expect(await flush()).toHaveLength(1);
    expect(await flush()).toEqual([]);
    expect(calls).toHaveLength(4);
  });
});
