/**
 * The guard: a small process `up` starts next to its dev servers, so they stop even when `up` cannot stop them
 * itself (`kill -9`, a crash, an OOM kill). `up` writes to the guard's stdin one line per change: `+<pgid>` when a
 * group starts, `-<pgid>` when it has stopped, `quit` when `up` stopped them all itself. If stdin ends without
 * `quit`, `up` is gone: the guard stops every group it still knows, then exits.
 *
 * Why a process of its own rather than the daemon: it runs as the user whatever the daemon runs as (a daemon started
 * with sudo must not kill process groups a client names), it works when the daemon itself was killed, and the kernel
 * closes the pipe for it at any kind of exit of `up`. It is the compiled binary again (`gotunnel __devserver-guard`),
 * in its own session, so Ctrl-C at the terminal does not reach it.
 */
import { stopGroups } from "./process-group.ts";

export const GUARD_COMMAND = "__devserver-guard";

export type GuardMessage = { add: number } | { remove: number } | "quit";

export function encodeGuardMessage(message: GuardMessage): string {
  if (message === "quit") return "quit\n";
  return "add" in message ? `+${message.add}\n` : `-${message.remove}\n`;
}

/** Applies one line to the set of groups; returns true for `quit`. Unknown lines are ignored (a newer `up`). */
export function applyGuardLine(groups: Set<number>, line: string): boolean {
  if (line === "quit") return true;
  const match = /^([+-])(\d+)$/.exec(line);
  if (!match) return false;
  const pgid = Number(match[2]);
  if (pgid <= 1) return false;
  if (match[1] === "+") groups.add(pgid);
  else groups.delete(pgid);
  return false;
}

/** The guard process's main: reads stdin to its end, then stops what is left unless told to quit. */
export async function runGuard(stdin: ReadableStream<Uint8Array> = Bun.stdin.stream()): Promise<number> {
  // Terminal signals are `up`'s business: a hangup or Ctrl-C must not end the guard before `up` has stopped the groups.
  for (const signal of ["SIGINT", "SIGHUP"] as const) process.on(signal, () => undefined);
  const groups = new Set<number>();
  const decoder = new TextDecoder();
  let partial = "";
  for await (const chunk of stdin) {
    const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) if (applyGuardLine(groups, line.trim())) return 0;
  }
  await stopGroups([...groups]);
  return 0;
}
