/**
 * Following a feed (the request log) into a response stream for a client that may stop reading: `gotunnel logs -f`
 * (NDJSON) and the dashboard's live list (Server-Sent Events). Bounded alike: past the stream's high-water mark new
 * items are dropped and counted, and the client gets the count before the next item it does read, so a slow client
 * costs bounded memory and never slows the proxy, whose request path delivers the items. A heartbeat goes out while
 * the client keeps up (a full backlog needs none, and must not grow by one).
 */

export interface Feed<T> {
  /** Starts delivering items; returns the function that stops. */
  subscribe(deliver: (item: T) => void): () => void;
  encode(item: T): Uint8Array;
  /** What tells the client how many items it missed. */
  dropped(count: number): Uint8Array;
  heartbeat: Uint8Array;
  heartbeatMs: number;
}

/** Follows `feed` into `controller` until the returned function is called. */
export function follow<T>(controller: ReadableStreamDefaultController<Uint8Array>, feed: Feed<T>): () => void {
  let stop: () => void = () => undefined;
  const enqueue = (bytes: Uint8Array) => {
    try {
      controller.enqueue(bytes);
    } catch {
      // Closed: the client went away before its abort event. This runs on the proxy's request path or in a timer,
      // where a throw would fail someone else's request or the daemon, so following just ends here.
      stop();
    }
  };
  let dropped = 0;
  const unsubscribe = feed.subscribe((item) => {
    if ((controller.desiredSize ?? 0) <= 0) {
      dropped++;
      return;
    }
    if (dropped > 0) enqueue(feed.dropped(dropped));
    dropped = 0;
    enqueue(feed.encode(item));
  });
  const heartbeat = setInterval(() => {
    if ((controller.desiredSize ?? 0) > 0) enqueue(feed.heartbeat);
  }, feed.heartbeatMs);
  stop = () => {
    unsubscribe();
    clearInterval(heartbeat);
  };
  return stop;
}
