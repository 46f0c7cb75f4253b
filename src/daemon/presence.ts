/**
 * Keeps a running daemon findable. A tmp cleaner, a cleanup script or a user's `rm` can remove the control socket,
 * the runtime dir or the lock file under a running daemon; commands would then find no daemon, start a second one and
 * wait for it in vain while this one holds the ports. So every PRESENCE_CHECK_MS, and
 * at once on SIGUSR1 (daemon/reach.ts sends it when the lock is held but the socket does not answer), the daemon puts
 * back what is missing: first the lock file (whoever holds it owns the socket path), then the runtime dir and socket.
 */
import { lstatSync } from "node:fs";
import type { Server } from "bun";
import type { DaemonLock } from "./lock.ts";

/** Sent by a command that finds the daemon's lock held but its socket gone: "listen on your socket again, now". */
export const REVIVE_SIGNAL = "SIGUSR1";
/**
 * A few lstat calls every 5 s; also the longest a removed lock file or socket stays missing when no command asks (one
 * that finds the socket gone sends REVIVE_SIGNAL, which checks at once). Every 5 s rather than every second: each
 * wake-up of an idle Bun process costs CPU beyond the check itself (issue 18, CONTRIBUTING.md).
 */
const PRESENCE_CHECK_MS = 5_000;

export interface ReviveSignal {
  /** What the signal does from now on (until then it does nothing). */
  onSignal(handler: () => void): void;
  close(): void;
}

/**
 * Starts listening for REVIVE_SIGNAL. Call it before taking the lock: a command signals any lock holder, and the
 * signal's default action would kill a daemon that has not installed its handler yet. Windows has no SIGUSR1.
 */
export function listenForRevive(): ReviveSignal {
  let handler: () => void = () => undefined;
  const listener = () => handler();
  if (process.platform !== "win32") process.on(REVIVE_SIGNAL, listener);
  return {
    onSignal(next) {
      handler = next;
    },
    close() {
      process.off(REVIVE_SIGNAL, listener);
    },
  };
}

export interface PresenceOptions {
  lock: DaemonLock;
  socket: string;
  /** Binds the control socket (control/server.ts startControlServer). */
  serve(): Server<undefined>;
  revive: ReviveSignal;
  log(level: "info" | "warn", message: string): void;
}

export interface Presence {
  /** Stops checking and closes the control socket (and any replaced one still finishing its streams). */
  stop(force: boolean): Promise<void>;
}

export function keepPresent(options: PresenceOptions): Presence {
  const { lock, socket, log } = options;
  let server: Server<undefined> | undefined = options.serve();
  let inode = socketInode(socket);
  const retired = new Set<Server<undefined>>();
  let lastProblem: string | undefined;
  const report = (problem: string | undefined) => {
    if (problem !== undefined && problem !== lastProblem) log("warn", problem);
    lastProblem = problem;
  };
  const retire = (old: Server<undefined>) => {
    retired.add(old);
    void old.stop(false).then(() => retired.delete(old));
  };
  const check = () => {
    try {
      if (!keepLock(lock, log, report)) return;
      const now = socketInode(socket);
      // Something else lives at the path now (another daemon's socket): it is not ours to remove.
      if (now !== undefined) return report(now === inode ? undefined : `${socket} was replaced by another file`);
      // Bun's stop() unlinks the socket's path: stop the old server first, then bind the path again. Its open
      // streams (`up` sessions, `logs -f`) go on until they end.
      if (server) retire(server);
      server = undefined;
      server = options.serve();
      inode = socketInode(socket);
      log("warn", `the control socket ${socket} was removed: listening on it again`);
      report(undefined);
    } catch (error) {
      report(`cannot restore the daemon's lock or control socket: ${String(error)}`);
    }
  };
  const timer = setInterval(check, PRESENCE_CHECK_MS);
  options.revive.onSignal(check);
  return {
    async stop(force) {
      clearInterval(timer);
      options.revive.onSignal(() => undefined);
      await Promise.all([...(server ? [server] : []), ...retired].map((each) => each.stop(force)));
    },
  };
}

/** True while the lock's path is ours (restored if it was removed), so the socket path is ours to bind. */
function keepLock(lock: DaemonLock, log: PresenceOptions["log"], report: (problem: string) => void): boolean {
  const kept = lock.keep();
  if (kept.kind === "restored") log("warn", `the daemon lock ${lock.path} was removed: re-created it`);
  if (kept.kind !== "taken") return kept.kind !== "pending";
  const who = kept.pid === undefined ? "another gotunnel" : `another gotunnel daemon (pid ${kept.pid})`;
  report(
    `the daemon lock ${lock.path} was removed and is now held by ${who}; stop this one with \`kill ${process.pid}\``,
  );
  return false;
}

/** The socket file's inode; undefined when the path (or its directory) is gone. */
function socketInode(path: string): number | undefined {
  try {
    return lstatSync(path).ino;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw error;
  }
}
