/**
 * Memory of a proxy: the sum over its process tree (nginx master + workers; Caddy and gotunnel are usually one
 * process, but a helper child would count too), read from /proc/<pid>/status.
 */
import { readdirSync, readFileSync } from "node:fs";

const SAMPLE_INTERVAL_MS = 200;

function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null; // the process exited between listing /proc and reading it
  }
}

function parentOf(pid: number): number | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return null;
  // Field 2 (comm) may contain spaces and parentheses, so parse from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[1]);
}

export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const parent = parentOf(pid);
    if (parent === null) continue;
    const list = children.get(parent) ?? [];
    list.push(pid);
    children.set(parent, list);
  }
  const tree: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** A field of /proc/<pid>/status in KiB (VmRSS = now, VmHWM = the process's own peak), 0 if unreadable. */
function statusKiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const status = readText(`/proc/${pid}/status`);
  const match = status ? new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status) : null;
  return match ? Number(match[1]) : 0;
}

export function treeKiB(root: number, field: "VmRSS" | "VmHWM"): number {
  return processTree(root).reduce((sum, pid) => sum + statusKiB(pid, field), 0);
}

/**
 * The tree's proportional set size now, KiB: each process's Pss (/proc/<pid>/smaps_rollup) summed, so a page that
 * several processes of the tree map (gotunnel's daemon, `up` client and issuer run one executable) counts once, where
 * summed VmRSS counts it in each. Pages shared with processes outside the tree (libc) count in part. Reading it walks
 * the page tables, so it is read at the idle points, not sampled under load.
 */
export function treePssKiB(root: number): number {
  return processTree(root).reduce((sum, pid) => {
    const match = /^Pss:\s+(\d+) kB/m.exec(readText(`/proc/${pid}/smaps_rollup`) ?? "");
    return sum + (match ? Number(match[1]) : 0);
  }, 0);
}

/** VmRSS of each named process now, KiB (0 for one that is gone). */
export function rolesKiB(processes: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(processes).map(([role, pid]) => [role, statusKiB(pid, "VmRSS")]));
}

/**
 * Samples the tree's summed VmRSS while a cell runs, and each named process's own; stop() returns the peak of the
 * sum in KiB, and `rolesPeakKiB` each process's peak (each at its own moment).
 */
export class RssSampler {
  private peakKiB = 0;
  readonly rolesPeakKiB: Record<string, number> = {};
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly root: number,
    private readonly processes?: () => Record<string, number>,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_INTERVAL_MS);
  }

  private sample(): void {
    this.peakKiB = Math.max(this.peakKiB, treeKiB(this.root, "VmRSS"));
    if (!this.processes) return;
    for (const [role, kib] of Object.entries(rolesKiB(this.processes()))) {
      this.rolesPeakKiB[role] = Math.max(this.rolesPeakKiB[role] ?? 0, kib);
    }
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peakKiB;
  }
}
