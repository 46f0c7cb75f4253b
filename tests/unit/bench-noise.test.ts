/**
 * The bench's own CPU time (bench/lib/noise.ts ownTicks), what it subtracts from the machine's busy time before it
 * flags a cell as disturbed: a grandchild that ran and was reaped by its parent, still alive, is the bench's time.
 * Chromium works that way (renderers come and go under its own processes), and before, their time counted as other
 * load: 46 of 50 browser loads were flagged on a quiet machine.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ownTicks } from "../../bench/lib/noise.ts";

/** cutime + cstime of `pid` (fields 16 and 17 of /proc/PID/stat): the CPU time of the children it reaped. */
function reapedTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat
    .slice(stat.lastIndexOf(")") + 2)
    .split(" ")
    .map(Number);
  return (fields[13] ?? 0) + (fields[14] ?? 0);
}

test("a grandchild's CPU time, once its parent has reaped it, counts as the bench's own", async () => {
  const before = ownTicks();
  // sh runs a subshell that burns CPU and exits; sh reaps it, then stays alive, so the time sits in sh's cutime.
  const shell = Bun.spawn(
    ["sh", "-c", 'i=0; (while [ "$i" -lt 400000 ]; do i=$((i+1)); done); echo reaped; sleep 30'],
    {
      stdout: "pipe",
    },
  );
  try {
    const reader = shell.stdout.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toBe("reaped\n");
    const reaped = reapedTicks(shell.pid);
    expect(reaped).toBeGreaterThan(10); // the subshell really ran for a while (ticks are 10 ms)
    expect(ownTicks() - before).toBeGreaterThanOrEqual(reaped);
  } finally {
    shell.kill();
    await shell.exited;
  }
});
