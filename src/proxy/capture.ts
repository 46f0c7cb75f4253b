/**
 * Body capture for the dashboard's request detail: the first bytes of a request's and its response's body, copied
 * as they stream through, for a route whose capture the user turned on. The bodies still stream to their
 * destination unchanged and unbuffered; the copy stops at a fixed size and only counts after it. A route without
 * capture never reaches this file (handler.ts asks the `captures` hook first).
 */
import type { OutgoingRequest, Upstream } from "./forward.ts";
import type { ProxyRoute } from "./router.ts";

/** Per body: enough for a JSON API call or a form post, small enough that a ring of captures stays a few MiB. */
export const CAPTURE_BODY_LIMIT_BYTES = 64 * 1024;

/** What was seen of one body: the kept bytes (at most the limit), how many passed in all, and whether it ended. */
export interface BodyTap {
  chunks: Uint8Array[];
  keptBytes: number;
  totalBytes: number;
  done: boolean;
}

/** A captured exchange: `request` is set when it was sent upstream, `response` once the upstream answered. */
export interface Capture {
  request: BodyTap | undefined;
  response: BodyTap | undefined;
}

export function emptyTap(done = false): BodyTap {
  return { chunks: [], keptBytes: 0, totalBytes: 0, done };
}

/** `stream`, passed through unchanged, with its first `limitBytes` copied into `tap`. */
export function tapStream(
  stream: ReadableStream<Uint8Array>,
  tap: BodyTap,
  limitBytes = CAPTURE_BODY_LIMIT_BYTES,
): ReadableStream<Uint8Array> {
  const copy = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      tap.totalBytes += chunk.byteLength;
      const room = limitBytes - tap.keptBytes;
      if (room > 0) {
        // A copy: the proxy may reuse or transfer the chunk's buffer once it is written.
        const kept = chunk.slice(0, room);
        tap.chunks.push(kept);
        tap.keptBytes += kept.byteLength;
      }
      controller.enqueue(chunk);
    },
    flush() {
      tap.done = true;
    },
  });
  return stream.pipeThrough(copy);
}

/** The kept bytes of a tap as one array. */
export function tapBytes(tap: BodyTap): Uint8Array {
  return Buffer.concat(tap.chunks, tap.keptBytes);
}

/** `upstream`, with both bodies of the one request it is used for copied into `capture`. */
export function capturingUpstream(
  upstream: Upstream,
  capture: Capture,
  limitBytes = CAPTURE_BODY_LIMIT_BYTES,
): Upstream {
  return async (route: ProxyRoute, outgoing: OutgoingRequest) => {
    const requestTap = emptyTap(outgoing.body === null);
    capture.request = requestTap;
    const body = outgoing.body && tapStream(outgoing.body, requestTap, limitBytes);
    const response = await upstream(route, { ...outgoing, body });
    const responseTap = emptyTap(response.body === null);
    capture.response = responseTap;
    if (!response.body) return response;
    const { status, statusText, headers } = response;
    return new Response(tapStream(response.body, responseTap, limitBytes), { status, statusText, headers });
  };
}
