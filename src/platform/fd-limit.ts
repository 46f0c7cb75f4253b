/**
 * The process's open-file limit and how many files it has open, so the daemon can tell when it is running short
 * (daemon/fd-guard.ts). Raising the soft limit is Bun's job: at start it sets the soft RLIMIT_NOFILE to the hard one
 * (capped at 2^20, oven-sh/bun#29617), which tests/e2e/fd-limit.test.ts checks on the compiled binary.
 *
 * Linux reads /proc; macOS lists /dev/fd and asks a shell for the limit (a child inherits the raised soft limit);
 * Windows has no per-process descriptor limit of this kind, so there is nothing to watch.
 */
import { readdirSync, readFileSync } from "node:fs";

export interface FileLimit {
  soft: number;
  hard: number | "unlimited";
}

export interface FileLimitProbe {
  limit: FileLimit;
  /** Open file descriptors now; the soft limit when counting them failed for want of a descriptor. */
  openFiles(): number;
}

/** Listing a directory takes a descriptor: at the limit the count fails, which answers the question. */
function countEntries(dir: string, limit: number): number {
  try {
    return readdirSync(dir).length;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EMFILE" || code === "ENFILE") return limit;
    throw error;
  }
}

/** `Max open files  1024  4096  files` in proc(5)'s /proc/<pid>/limits. */
export function parseProcLimits(text: string): FileLimit | undefined {
  const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text);
  if (!match?.[1] || !match[2] || match[1] === "unlimited") return undefined;
  return { soft: Number(match[1]), hard: match[2] === "unlimited" ? "unlimited" : Number(match[2]) };
}

function darwinSoftLimit(): number | undefined {
  const result = Bun.spawnSync(["/bin/sh", "-c", "ulimit -n"], { stdout: "pipe", stderr: "ignore" });
  const text = result.stdout.toString().trim();
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

/**
 * The probe for this platform, or a sentence saying why there is none (the daemon logs it). Reading one directory
 * entry per open file costs about a microsecond each, so a caller polls it every few hundred milliseconds at most.
 */
export function fileLimitProbe(platform: NodeJS.Platform = process.platform): FileLimitProbe | string {
  if (platform === "linux") {
    let text: string;
    try {
      text = readFileSync("/proc/self/limits", "utf8");
    } catch (error) {
      return `/proc/self/limits cannot be read (${(error as Error).message})`;
    }
    const limit = parseProcLimits(text);
    if (limit === undefined) return "the open-file limit is unlimited";
    return { limit, openFiles: () => countEntries("/proc/self/fd", limit.soft) };
  }
  if (platform === "darwin") {
    const soft = darwinSoftLimit();
    if (soft === undefined) return "`ulimit -n` did not print a number";
    return { limit: { soft, hard: soft }, openFiles: () => countEntries("/dev/fd", soft) };
  }
  return `${platform} has no per-process open-file limit to watch`;
}
