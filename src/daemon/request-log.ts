/**
 * The daemon's request log: the last REQUEST_LOG_CAPACITY requests in a ring buffer, which `gotunnel logs` reads,
 * and the followers (`gotunnel logs -f`) that get each new request as it happens. The proxy is benchmarked against
 * nginx, so recording a request costs two array stores: the event object the proxy made anyway, and its time as a
 * number. Lines are built (ISO time, error text) only when someone reads them or follows.
 */
import { redactSecrets } from "../core/redact.ts";
import type { RequestEvent } from "../proxy/server.ts";
import { spanIdOf, traceIdOf } from "../telemetry/trace-context.ts";
import type { LogLine } from "./control/protocol.ts";

/**
 * A few screens of history. Bounded, but not small: an event keeps its request's and response's Headers for the
 * dashboard's detail, and a full buffer held about 9 MiB of the daemon's peak RSS at 50 keep-alive clients (93 against
 * 84 MiB with 10 entries; 5.5 MiB of it the Headers: issue 18, CONTRIBUTING.md).
 */
export const REQUEST_LOG_CAPACITY = 1000;

/**
 * Requests whose bodies were captured (dashboard capture) keep them this long: the newest ones, at most two bodies
 * of proxy/capture.ts's CAPTURE_BODY_LIMIT_BYTES each, so at most about 6 MiB.
 */
export const CAPTURE_CAPACITY = 50;

export type LogFollower = (line: LogLine) => void;

/** A buffered request with its number (1, 2, … per daemon), for the dashboard's list and detail. */
export interface LogEntry {
  id: number;
  timeMs: number;
  event: RequestEvent;
}

export type EntryWatcher = (entry: LogEntry) => void;

interface Follow {
  /** Undefined: every route. */
  route: string | undefined;
  send: LogFollower;
}

export class RequestLog {
  /** Slot i holds an event and its time; `next` is the slot the next push overwrites (the oldest once full). */
  private readonly events: (RequestEvent | undefined)[];
  private readonly timesMs: Float64Array;
  /** Request numbers by slot: the one in slot i is always `i + 1` modulo the capacity, so `entry(id)` is O(1). */
  private readonly ids: Float64Array;
  private lastId = 0;
  private next = 0;
  private size = 0;
  private readonly follows = new Set<Follow>();
  private readonly watchers = new Set<EntryWatcher>();
  /** Captured requests by id, oldest first (a Map keeps insertion order); see CAPTURE_CAPACITY. */
  private readonly captured = new Map<number, RequestEvent>();

  constructor(
    readonly capacity = REQUEST_LOG_CAPACITY,
    readonly captureCapacity = CAPTURE_CAPACITY,
  ) {
    this.events = new Array<RequestEvent | undefined>(capacity).fill(undefined);
    this.timesMs = new Float64Array(capacity);
    this.ids = new Float64Array(capacity);
  }

  /** O(1) and allocation-free unless someone follows; then the line is built once and shared by the followers. */
  push(event: RequestEvent, timeMs = Date.now()): void {
    const id = ++this.lastId;
    this.events[this.next] = event;
    this.timesMs[this.next] = timeMs;
    this.ids[this.next] = id;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
    if (this.size < this.capacity) this.size++;
    if (event.capture) this.keepCapture(id, event);
    if (this.follows.size > 0) this.publish(event, timeMs);
    if (this.watchers.size > 0) for (const watch of this.watchers) watch({ id, timeMs, event });
  }

  /** The newest captures only: an older one loses its bodies (its headers stay while it is in the ring). */
  private keepCapture(id: number, event: RequestEvent): void {
    this.captured.set(id, event);
    if (this.captured.size <= this.captureCapacity) return;
    const [oldestId, oldest] = this.captured.entries().next().value as [number, RequestEvent];
    this.captured.delete(oldestId);
    oldest.capture = undefined;
  }

  /** The buffered request numbered `id`, if it is still in the ring. */
  entry(id: number): LogEntry | undefined {
    if (!Number.isInteger(id) || id < 1 || id > this.lastId || id <= this.lastId - this.size) return undefined;
    const slot = (id - 1) % this.capacity;
    const event = this.events[slot];
    return event && this.ids[slot] === id ? { id, timeMs: this.timesMs[slot]!, event } : undefined;
  }

  /** The newest `limit` buffered requests, oldest first. */
  entries(limit = this.capacity): LogEntry[] {
    const count = Math.min(limit, this.size);
    const found: LogEntry[] = [];
    for (let id = this.lastId - count + 1; id <= this.lastId; id++) {
      const entry = this.entry(id);
      if (entry) found.push(entry);
    }
    return found;
  }

  /**
   * Calls `watch` with each new request until the returned stop is called. Like follow's `send`, it runs on the
   * proxy's request path: it must be quick and must not throw.
   */
  watch(watch: EntryWatcher): () => void {
    this.watchers.add(watch);
    return () => this.watchers.delete(watch);
  }

  /** The newest `limit` buffered lines of `route` (every route when undefined), oldest first. */
  lines(route?: string, limit = this.capacity): LogLine[] {
    const newestFirst: LogLine[] = [];
    for (let age = 1; age <= this.size && newestFirst.length < limit; age++) {
      const slot = (this.next - age + this.capacity) % this.capacity;
      const event = this.events[slot];
      if (event && (route === undefined || event.route === route))
        newestFirst.push(logLine(event, this.timesMs[slot]!));
    }
    return newestFirst.reverse();
  }

  /** Route names with a buffered request: `gotunnel logs` still answers for a route removed a moment ago. */
  routes(): Set<string> {
    const names = new Set<string>();
    for (const event of this.events) if (event?.route) names.add(event.route);
    return names;
  }

  /**
   * Calls `send` with each new request to `route` (every route when undefined) until the returned stop is called.
   * `send` runs on the proxy's request path: it must be quick and must not throw.
   */
  follow(route: string | undefined, send: LogFollower): () => void {
    const follow: Follow = { route, send };
    this.follows.add(follow);
    return () => this.follows.delete(follow);
  }

  private publish(event: RequestEvent, timeMs: number): void {
    let line: LogLine | undefined;
    for (const follow of this.follows) {
      if (follow.route !== undefined && follow.route !== event.route) continue;
      line ??= logLine(event, timeMs);
      follow.send(line);
    }
  }
}

/**
 * A request as `gotunnel logs` shows it: the error becomes its message, the duration keeps two decimals, and the
 * values of secret-looking query parameters (`?token=`, `?api_key=`) are redacted from the path (core/redact.ts).
 */
export function logLine(event: RequestEvent, timeMs: number): LogLine {
  const { error, traceparent } = event;
  return {
    time: new Date(timeMs).toISOString(),
    method: event.method,
    host: event.host,
    path: redactSecrets(event.path),
    status: event.status,
    durationMs: Math.round(event.durationMs * 100) / 100,
    ...(event.route === undefined ? {} : { route: event.route }),
    ...(error ? { error: String((error as Error).message ?? error) } : {}),
    ...(traceparent ? { traceId: traceIdOf(traceparent), spanId: spanIdOf(traceparent) } : {}),
  };
}
