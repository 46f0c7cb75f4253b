/**
 * The live request list's feed: Server-Sent Events (HTML Living Standard §9.2) carrying each new request's summary
 * as it is logged. It rides on the request log's watchers, like `gotunnel logs -f`, and is bounded the same way: a
 * page that does not keep up (a background tab, a slow machine) gets a `dropped` event with the count instead of the
 * requests it missed, so it costs bounded memory and never slows the proxy.
 */
import type { RequestLog } from "../request-log.ts";
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
        const enqueue = (bytes: Uint8Array) => {
          try {
            controller.enqueue(bytes);
          } catch {
            // Closed: the page went away before the abort event. This runs on the proxy's request path, where a
            // throw would fail someone else's request, so the stream just stops following.
            stop();
          }
        };
        // The headers go out with the first bytes: an opening comment answers at once (EventSource's `open`).
        enqueue(encoder.encode(": gotunnel\n\n"));
        let dropped = 0;
        const unwatch = log.watch((entry) => {
          if ((controller.desiredSize ?? 0) <= 0) {
            dropped++;
            return;
          }
          if (dropped > 0) enqueue(message("dropped", { count: dropped }));
          dropped = 0;
          enqueue(message("request", requestSummary(entry)));
        });
        const heartbeat = setInterval(() => {
          if ((controller.desiredSize ?? 0) > 0) enqueue(encoder.encode(": keep-alive\n\n"));
        }, HEARTBEAT_MS);
        stop = () => {
          unwatch();
          clearInterval(heartbeat);
        };
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
