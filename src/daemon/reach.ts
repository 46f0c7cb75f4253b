/**
 * Reaching the daemon when its control socket does not answer. The socket can be removed under a running daemon (a
 * tmp cleaner, logind at logout, a user's `rm`); the lock in the state dir (daemon/lock.ts) still says whether a
 * daemon runs and which pid it is. SIGUSR1 asks it to listen on its socket again at once (daemon/presence.ts), and
 * SIGTERM stops it just as `POST /v1/shutdown` does.
 */
import { GotunnelError } from "../core/errors.ts";
import type { ControlClient } from "./control/client.ts";
import { lockHolder, lockHolderPid, lockPath } from "./lock.ts";
import { REVIVE_SIGNAL } from "./presence.ts";

/** A signalled daemon binds its socket again within milliseconds; this bound only catches one that cannot. */
const REVIVE_TIMEOUT_MS = 5_000;
const POLL_MS = 50;

export interface ReviveOptions {
  stateDir: string;
  /** A client of the daemon's socket that does not revive by itself. */
  client: ControlClient;
  /** The daemon log, named when the daemon cannot bring its socket back. */
  logFile: string;
}

/**
 * When a daemon holds the lock but its socket does not answer: asks it to listen again and waits until it does.
 * False when no daemon runs (the caller's "not running" stands).
 */
export async function reviveDaemon({ stateDir, client, logFile }: ReviveOptions): Promise<boolean> {
  const holder = lockHolder(stateDir);
  holder?.close();
  if (!holder) return false;
  const { pid } = holder;
  if (pid === undefined) throw unreachableHolder(stateDir);
  // Windows has no SIGUSR1: there the daemon's own check (every second) brings the socket back.
  if (process.platform !== "win32" && !signalDaemon(pid, REVIVE_SIGNAL)) return false;
  const deadline = Date.now() + REVIVE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await answers(client)) return true;
    if (lockHolderPid(stateDir) !== pid) return false;
    await Bun.sleep(POLL_MS);
  }
  throw new GotunnelError("E_DAEMON", `the gotunnel daemon (pid ${pid}) runs but does not answer on ${client.socket}`, {
    hint: `see its log (${logFile}), or stop it with \`gotunnel daemon stop\``,
    details: { pid, socket: client.socket },
  });
}

/** The lock is held by a process this one cannot see (the kernel hides it: another pid namespace). */
export function unreachableHolder(stateDir: string): GotunnelError {
  return new GotunnelError(
    "E_DAEMON",
    `a gotunnel daemon holds ${lockPath(stateDir)} but cannot be reached from here`,
    {
      hint: "it runs in another container or pid namespace that shares this directory: use or stop it there",
      details: { lock: lockPath(stateDir) },
    },
  );
}

/**
 * Sends `signal` to the daemon holding the lock. False when it exited meanwhile; a daemon started with sudo cannot
 * be signalled by its user, which is said with the fix.
 */
export function signalDaemon(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ESRCH") return false;
    if (code !== "EPERM") throw error;
    throw new GotunnelError("E_DAEMON", `the gotunnel daemon (pid ${pid}) runs as another user`, {
      hint: "it was started with sudo: run this command with sudo too",
      details: { pid },
      cause: error,
    });
  }
}

/** While a daemon starts or comes back, "not answering yet" is expected: only whether it answers matters. */
export function answers(client: ControlClient): Promise<boolean> {
  return client.status().then(
    () => true,
    () => false,
  );
}
