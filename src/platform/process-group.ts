/**
 * Process groups of the programs gotunnel runs for the user (dev servers of `up`, the tool of `share`). Each runs as
 * the leader of its own group (and session: Bun's `detached`), so a signal to the group reaches everything it started
 * (`npm run dev` → sh → node → esbuild) and Ctrl-C at the terminal reaches only gotunnel, which then stops the groups
 * in order. POSIX kill(2): a negative pid is a group.
 */

/** How long a group gets to exit after SIGTERM before SIGKILL (a dev server flushing its cache takes a moment). */
export const STOP_GRACE_MS = 5_000;
const POLL_MS = 50;

/** Sends `signal` to the group; false when no process of it is left (ESRCH). */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ESRCH: nothing left. EPERM: a member changed user (setuid helper); nothing we may do about it.
    if (code === "ESRCH" || code === "EPERM") return false;
    throw error;
  }
}

/**
 * `signal` (SIGTERM unless the program cleans up on another) to every group, then SIGKILL to those still there after
 * `graceMs`. Resolves once no group answers a signal 0 any more, or shortly after the SIGKILL: a zombie member whose
 * parent never reaps it still counts as there for kill(2) (DESIGN.md), and waiting for it would never end.
 */
export async function stopGroups(
  pgids: readonly number[],
  graceMs = STOP_GRACE_MS,
  signal: NodeJS.Signals = "SIGTERM",
): Promise<void> {
  let alive = pgids.filter((pgid) => signalGroup(pgid, signal));
  const deadline = Date.now() + graceMs;
  while (alive.length > 0 && Date.now() < deadline) {
    await Bun.sleep(POLL_MS);
    alive = alive.filter((pgid) => signalGroup(pgid, 0));
  }
  for (const pgid of alive) signalGroup(pgid, "SIGKILL");
}
