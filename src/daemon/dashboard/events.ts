/**
 * The live request list's feed: Server-Sent Events (HTML Living Standard §9.2) carrying each new request's summary
 * as it is logged. It rides on the request log's watchers, like `gotunnel logs -f`, and is bounded the same way: a
 * page that does not keep up (a background tab, a slow machine) gets a `dropped` event with the count instead of the
 * requests it missed, so it costs bounded memory and never slows the proxy.
 */
import { follow } from "../follow.ts";
import type { LogEntry, RequestLog } from "../request-log.ts";
import { requestSummary } from "./views.ts";

/** Events one stream may hold for a page that does not read them; past it they are dropped and counted. */
export const EVENTS_BACKLOG = 500;
/** A comment line this often keeps proxies and the listener's idle timer from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;

export function eventStream(
  log: RequestLog,
  signal: AbortSignal,
  backlog = EVENTS_BACKLOG,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const message = (event: string, data: unknown) =>
    encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  let stop: () => void = () => undefined;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        // The headers go out with the first bytes: an opening comment answers at once (EventSource's `open`).
        controller.enqueue(encoder.encode(": gotunnel\n\n"));
        stop = follow<LogEntry>(controller, {
          subscribe: (deliver) => log.watch(deliver),
          encode: (entry) => message("request", requestSummary(entry)),
          dropped: (count) => message("dropped", { count }),
          heartbeat: encoder.encode(": keep-alive\n\n"),
          heartbeatMs: HEARTBEAT_MS,
        });
        // The page went away, or the daemon is stopping (Dashboard.close): end the stream cleanly, so the page's
        // EventSource reconnects instead of holding the listener open through the shutdown grace.
        const end = () => {
          stop();
          try {
            controller.close();
          } catch {
            // Already closed or errored by the page going away: nothing left to end.
          }
        };
        if (signal.aborted) end();
        else signal.addEventListener("abort", end);
      },
      cancel: () => stop(),
    },
    { highWaterMark: backlog },
  );
}
