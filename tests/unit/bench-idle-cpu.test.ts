/**
 * The bench's idle CPU figure (bench/lib/cpu-time.ts idleCpuMsPerMinute): milliseconds of CPU a minute, per process
 * tree and per named process. It must see a busy process, see nothing of a sleeping one, and not go below zero when
 * a process of the tree exits in the window (gotunnel's certificate issuer does, 10 s after its last certificate).
 */
import { expect, test } from "bun:test";
import { idleCpuMsPerMinute } from "../../bench/lib/cpu-time.ts";

test("a busy process reads as CPU, a sleeping one as none", async () => {
  const busy = Bun.spawn(["sh", "-c", "while :; do :; done"]);
  const sleeping = Bun.spawn(["sleep", "30"]);
  try {
    await Bun.sleep(200);
    const [hot, cold] = await Promise.all([
      idleCpuMsPerMinute(busy.pid, { shell: busy.pid }, 1_000),
      idleCpuMsPerMinute(sleeping.pid, { sleep: sleeping.pid }, 1_000),
    ]);
    // A whole core is 60,000 ms a minute; a shared CI core still gives a busy loop far more than a sixth of that.
    expect(hot.total).toBeGreaterThan(10_000);
    expect(hot.roles.shell).toBe(hot.total);
    expect(cold.total).toBeLessThan(1_000);
  } finally {
    busy.kill();
    sleeping.kill();
  }
});

test("a process that used CPU and exits in the window takes nothing away from the figure", async () => {
  // Burns CPU first, then exits during the window: summing the tree before and after would give a negative figure.
  const exiting = Bun.spawn(["sh", "-c", 'i=0; while [ "$i" -lt 300000 ]; do i=$((i+1)); done; sleep 0.3']);
  await Bun.sleep(150);
  const measured = await idleCpuMsPerMinute(exiting.pid, { shell: exiting.pid }, 3_000);
  expect(await exiting.exited).toBe(0);
  expect(measured.total).toBeGreaterThanOrEqual(0);
  expect(measured.roles.shell).toBeGreaterThanOrEqual(0);
});
