/**
 * The client side of `gotunnel logs`: the daemon's buffered request log and, with `follow`, each new request until
 * SIGINT/SIGTERM/SIGHUP, which is a clean end (exit 0). A daemon that stops while we follow is an error (exit 7).
 */
import { GotunnelError } from "../core/errors.ts";
import type { ControlClient, LogsQuery } from "./control/client.ts";
import type { LogLine } from "./control/protocol.ts";
import { nextSignal } from "./signals.ts";

export interface TailHandlers {
  onLine(line: LogLine): void;
  /** The daemon skipped `count` lines because this reader fell behind. */
  onDropped(count: number): void;
}

const noSignal = (): undefined => undefined;

export async function tailLogs(client: ControlClient, query: LogsQuery, handlers: TailHandlers): Promise<void> {
  const abort = new AbortController();
  // Listening before the stream opens: a Ctrl-C from then on ends the command cleanly rather than killing it.
  const signalled = query.follow ? nextSignal() : undefined;
  const items = await client.logs(query, abort.signal);
  const streamEnded = (async () => {
    for await (const item of items) {
      if ("event" in item) handlers.onDropped(item.count);
      else handlers.onLine(item);
    }
  })();
  if (!signalled) return streamEnded;
  const outcome = await Promise.race([signalled, streamEnded.then(noSignal, noSignal)]);
  if (outcome === undefined) {
    throw new GotunnelError("E_DAEMON", "the gotunnel daemon stopped", {
      hint: "start it again with `gotunnel up` or `gotunnel start`, then `gotunnel logs -f`",
    });
  }
  abort.abort();
  // The abort rejects the pending read: that is how following ends, not an error.
  await streamEnded.catch((error: unknown) => {
    if (!abort.signal.aborted) throw error;
  });
}
