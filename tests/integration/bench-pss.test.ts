/**
 * The bench's PSS figure (bench/lib/rss.ts treePssKiB): for a proxy of several processes running one executable
 * (gotunnel's daemon and `up` client), summed VmRSS counts their shared pages in each; the PSS counts them once.
 */
import { expect, test } from "bun:test";
import { processTree, treeKiB, treePssKiB } from "../../bench/lib/rss.ts";

test("a tree of two processes sharing an executable: the PSS is below the summed VmRSS, and not zero", async () => {
  // A shell and a subshell it forks (no exec: the same executable and copy-on-write pages), which runs `sleep`.
  const parent = Bun.spawn(["sh", "-c", "(sleep 30; :) & wait"]);
  try {
    for (let tries = 0; tries < 100 && processTree(parent.pid).length < 3; tries++) await Bun.sleep(20);
    expect(processTree(parent.pid)).toHaveLength(3);
    const rss = treeKiB(parent.pid, "VmRSS");
    const pss = treePssKiB(parent.pid);
    expect(pss).toBeGreaterThan(0);
    expect(pss).toBeLessThan(rss);
  } finally {
    // The subshell and its sleep too, not only the shell.
    for (const pid of processTree(parent.pid).reverse()) process.kill(pid);
  }
});

test("a process that is gone counts nothing (it exited between listing and reading)", async () => {
  const gone = Bun.spawn(["true"]);
  await gone.exited;
  expect(treePssKiB(gone.pid)).toBe(0);
});
