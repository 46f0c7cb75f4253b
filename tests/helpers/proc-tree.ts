/**
 * What /proc says about processes, for tests that must prove nothing was left behind: every process whose command
 * line holds a marker (a dev server and everything it started carry the marker the test put in its argv or
 * environment), the children of a process, and whether a pid is still alive (a zombie is not: it runs nothing and
 * only waits for its parent to reap it).
 */
import { readdirSync, readFileSync } from "node:fs";

export interface ProcInfo {
  pid: number;
  ppid: number;
  pgid: number;
  /** R, S, D, Z, T…: the third field of /proc/<pid>/stat. */
  state: string;
  cmdline: string;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined; // The process exited between readdir and read: it is simply not there.
  }
}

export function procInfo(pid: number): ProcInfo | undefined {
  const stat = read(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // The command name is in parentheses and may itself hold spaces or parentheses: fields start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cmdline = (read(`/proc/${pid}/cmdline`) ?? "").split("\0").join(" ").trim();
  return { pid, state: fields[0] ?? "?", ppid: Number(fields[1]), pgid: Number(fields[2]), cmdline };
}

export function allProcesses(): ProcInfo[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .flatMap((name) => procInfo(Number(name)) ?? []);
}

/** Every live (not zombie) process whose command line or environment holds `marker`. */
export function liveWithMarker(marker: string): ProcInfo[] {
  return allProcesses().filter((info) => {
    if (info.state === "Z" || info.pid === process.pid) return false;
    if (info.cmdline.includes(marker)) return true;
    return (read(`/proc/${info.pid}/environ`) ?? "").includes(marker);
  });
}

/** Every live descendant of `pid` (children, grandchildren…). */
export function liveDescendants(pid: number): ProcInfo[] {
  const all = allProcesses().filter((info) => info.state !== "Z");
  const found: ProcInfo[] = [];
  let frontier = [pid];
  while (frontier.length > 0) {
    const children = all.filter((info) => frontier.includes(info.ppid));
    found.push(...children);
    frontier = children.map((info) => info.pid);
  }
  return found;
}

export function isLive(pid: number): boolean {
  const info = procInfo(pid);
  return info !== undefined && info.state !== "Z";
}

/** Polls until `probe` returns an empty list (bounded); returns what is still there at the end. */
export async function untilEmpty<T>(probe: () => T[], timeoutMs = 15_000): Promise<T[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = probe();
    if (left.length === 0 || Date.now() > deadline) return left;
    await Bun.sleep(100);
  }
}
