/**
 * How much CPU something other than the bench used during a cell. The machine may be shared (other test suites,
 * package installs, a noisy hypervisor neighbour via steal time); a cell measured while that happened is flagged
 * in the table instead of being silently wrong.
 *
 * foreign = (machine busy time − time used by the bench's own process tree) / machine capacity, all from /proc in
 * clock ticks. Children already reaped (each wrk run, stopped proxies, a browser's renderers) are in their parent's
 * cutime/cstime.
 */
import { readFileSync } from "node:fs";
import { sleep } from "./proc.ts";
import { processTree } from "./rss.ts";

/** Above this share of the whole machine's CPU, a cell is marked as measured on a busy machine. */
export const NOISY_FOREIGN_PERCENT = 5;

interface MachineTicks {
  busy: number;
  total: number;
}

function machineTicks(): MachineTicks {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  // cpu user nice system idle iowait irq softirq steal (guest time is already inside user/nice)
  const values = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = values.reduce((sum, value) => sum + value, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

function statFields(pid: number): number[] {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after "(comm)": index 0 is field 3 (state); utime, stime, cutime, cstime are fields 14-17.
    return stat
      .slice(stat.lastIndexOf(")") + 2)
      .split(" ")
      .map(Number);
  } catch {
    return []; // exited between listing and reading; its time lands in its parent's cutime once reaped
  }
}

/**
 * Every process of the tree with the children it reaped (cutime, cstime), not only the bench's: Chromium's
 * renderers and utility processes come and go during a browser load, reaped by Chromium's own processes, and without
 * their parents' cutime their time counted as foreign (46 of 50 loads flagged on a quiet machine). A live child is
 * in its own utime and not yet in its parent's cutime, so nothing is counted twice.
 */
export function ownTicks(): number {
  let ticks = 0;
  for (const pid of processTree(process.pid)) {
    const fields = statFields(pid);
    ticks += (fields[11] ?? 0) + (fields[12] ?? 0) + (fields[13] ?? 0) + (fields[14] ?? 0);
  }
  return ticks;
}

export class NoiseMeter {
  private readonly machine = machineTicks();
  private readonly own = ownTicks();

  /** Percent of the machine's total CPU capacity used by processes outside the bench since construction. */
  stop(): number {
    const machine = machineTicks();
    const total = machine.total - this.machine.total;
    if (total <= 0) return 0;
    const foreign = machine.busy - this.machine.busy - (ownTicks() - this.own);
    return Math.max(0, Math.round((foreign / total) * 1000) / 10);
  }
}

const QUIET_PROBE_MS = 1000;

/**
 * Before a cell whose warm-up saw foreign load, idle in 1 s probes until the machine is quiet again. The budget is
 * for the whole run, so a machine that never calms down costs at most that much extra time.
 */
export class QuietGate {
  private remainingMs: number;
  waitedMs = 0;

  constructor(budgetMs: number) {
    this.remainingMs = budgetMs;
  }

  async wait(): Promise<void> {
    while (this.remainingMs >= QUIET_PROBE_MS) {
      const meter = new NoiseMeter();
      await sleep(QUIET_PROBE_MS);
      this.remainingMs -= QUIET_PROBE_MS;
      this.waitedMs += QUIET_PROBE_MS;
      if (meter.stop() <= NOISY_FOREIGN_PERCENT) return;
    }
  }
}
