/**
 * CPU time a proxy spends per request: user + system time of its process tree (from /proc/<pid>/stat) over a
 * measured run, divided by the requests completed. It reads the cost directly where req/s reads it only through
 * the one server core (and not at all at c=1, where the proxy mostly waits for the client).
 */
import { readFileSync } from "node:fs";
import { processTree } from "./rss.ts";

/** Linux's USER_HZ: /proc reports CPU time in 1/100 s everywhere it runs (times(2)). */
const CLOCK_TICKS_PER_S = 100;

/** utime + stime of one process, in clock ticks; 0 when it is gone. */
export function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after "(comm)" start at field 3; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  } catch {
    return 0; // exited between listing and reading
  }
}

/** The summed CPU ticks of `root`'s process tree now. */
export function treeCpuTicks(root: number): number {
  return processTree(root).reduce((sum, pid) => sum + processTicks(pid), 0);
}

/** Starts counting at construction; stop() gives microseconds of CPU per request, or null without requests. */
export class CpuMeter {
  private readonly start: number;

  constructor(private readonly root: number) {
    this.start = treeCpuTicks(root);
  }

  stop(requests: number): number | null {
    if (requests <= 0) return null;
    return ((treeCpuTicks(this.root) - this.start) * 1e6) / CLOCK_TICKS_PER_S / requests;
  }
}

/**
 * CPU a process tree and its named processes use while nothing happens (issue 18: gotunnel runs all day from login,
 * so its idle cost is CPU too, which on a laptop is battery): milliseconds of CPU per minute over `windowMs`.
 * Clock ticks are 10 ms, so a 15 s window reads to about 1% of a typically idle server's figure.
 */
export async function idleCpuMsPerMinute(
  root: number,
  processes: Record<string, number>,
  windowMs: number,
): Promise<{ total: number; roles: Record<string, number> }> {
  // Per process, not the tree's sum: a process that exits in the window (gotunnel's certificate issuer, idle for
  // 10 s) would take its earlier CPU time out of the sum. One that starts in it counts whole. Each process is read
  // once per snapshot, so a named process in the tree adds to the total exactly what it shows as its role.
  const snapshot = () => {
    const tree = processTree(root);
    const pids = new Set([...tree, ...Object.values(processes)]);
    return { tree, ticks: new Map([...pids].map((pid) => [pid, processTicks(pid)])) };
  };
  const before = snapshot().ticks;
  await Bun.sleep(windowMs);
  const after = snapshot();
  const used = (pid: number) => Math.max(0, (after.ticks.get(pid) ?? 0) - (before.get(pid) ?? 0));
  const perMinute = (ticks: number) => Math.round((ticks * 1000 * 60_000) / CLOCK_TICKS_PER_S / windowMs);
  let ticks = 0;
  for (const pid of after.tree) ticks += used(pid);
  const roles = Object.fromEntries(Object.entries(processes).map(([role, pid]) => [role, perMinute(used(pid))]));
  return { total: perMinute(ticks), roles };
}
