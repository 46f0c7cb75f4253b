/**
 * The guard: a small process started next to the programs gotunnel runs for the user (the dev servers of `up`, the
 * tunnel tool of `share`), so they stop even when gotunnel cannot stop them itself (`kill -9`, a crash, an OOM kill).
 * Its owner writes to the guard's stdin one line per change: `+<pgid>` (or `+<pgid> SIGINT` for a program that
 * cleans up on another signal than SIGTERM) when a group starts, `-<pgid>` when it has stopped, `quit` when the owner
 * stopped them all itself. If stdin ends without `quit`, the owner is gone: the guard stops every group it still
 * knows, then exits.
 *
 * Why a process of its own rather than the daemon: it runs as the user whatever the daemon runs as (a daemon started
 * with sudo must not kill process groups a client names), it works when the daemon itself was killed, and the kernel
 * closes the pipe for it at any kind of exit of the owner. It is the compiled binary again (`gotunnel
 * __process-guard`), in its own session, so Ctrl-C at the terminal does not reach it.
 */
import { constants } from "node:os";
import type { Subprocess } from "bun";
import { STOP_GRACE_MS, stopGroups } from "./process-group.ts";

export const GUARD_COMMAND = "__process-guard";

export type GuardMessage = { add: number; signal?: NodeJS.Signals } | { remove: number } | "quit";

export function encodeGuardMessage(message: GuardMessage): string {
  if (message === "quit") return "quit\n";
  if ("remove" in message) return `-${message.remove}\n`;
  return message.signal && message.signal !== "SIGTERM" ? `+${message.add} ${message.signal}\n` : `+${message.add}\n`;
}

/**
 * Applies one line to the groups (pgid → the signal that stops it); returns true for `quit`. Unknown lines and
 * signals are ignored (a newer owner); SIGKILL needs no naming, it follows the grace time anyway.
 */
export function applyGuardLine(groups: Map<number, NodeJS.Signals>, line: string): boolean {
  if (line === "quit") return true;
  const match = /^([+-])(\d+)(?: (SIG[A-Z0-9]+))?$/.exec(line);
  if (!match) return false;
  const pgid = Number(match[2]);
  const signal = (match[3] ?? "SIGTERM") as NodeJS.Signals;
  if (pgid <= 1 || !(signal in constants.signals)) return false;
  if (match[1] === "+") groups.set(pgid, signal);
  else groups.delete(pgid);
  return false;
}

/** The guard process's main: reads stdin to its end, then stops what is left unless told to quit. */
export async function runGuard(stdin: ReadableStream<Uint8Array> = Bun.stdin.stream()): Promise<number> {
  // Terminal signals are the owner's business: a hangup or Ctrl-C must not end the guard before the owner has
  // stopped the groups.
  for (const signal of ["SIGINT", "SIGHUP"] as const) process.on(signal, () => undefined);
  const groups = new Map<number, NodeJS.Signals>();
  const decoder = new TextDecoder();
  let partial = "";
  for await (const chunk of stdin) {
    const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) if (applyGuardLine(groups, line.trim())) return 0;
  }
  const bySignal = Map.groupBy(groups.keys(), (pgid) => groups.get(pgid) ?? "SIGTERM");
  await Promise.all([...bySignal].map(([signal, pgids]) => stopGroups(pgids, STOP_GRACE_MS, signal)));
  return 0;
}

/** The owner's side: starts the guard and tells it about each group. */
export class ProcessGuard {
  private constructor(private readonly child: Subprocess<"pipe", "ignore", "ignore">) {}

  /** `selfCommand`: how to run this gotunnel again (daemon/spawn.ts `selfCommand()`). */
  static start(selfCommand: readonly string[]): ProcessGuard {
    const child = Bun.spawn([...selfCommand, GUARD_COMMAND], {
      stdin: "pipe",
      stdout: "ignore",
      stderr: "ignore",
      detached: true,
    });
    // The owner's exit must not wait for the guard: the guard is what outlives it.
    child.unref();
    return new ProcessGuard(child);
  }

  /** Call right after the group's leader is spawned: until then, a `kill -9` of the owner leaves it running. */
  watch(pgid: number, signal: NodeJS.Signals = "SIGTERM"): void {
    this.tell({ add: pgid, signal });
  }

  /** The group has stopped: the guard must not signal its id again (it may be reused). */
  forget(pgid: number): void {
    this.tell({ remove: pgid });
  }

  /** The owner stopped every group itself: the guard exits without signalling any. */
  quit(): void {
    this.tell("quit");
    this.child.stdin.end();
  }

  private tell(message: GuardMessage): void {
    this.child.stdin.write(encodeGuardMessage(message));
    this.child.stdin.flush();
  }
}
