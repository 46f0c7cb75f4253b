/**
 * Reading a request body ahead, before it takes an upstream socket. A socket is a scarce thing (a bounded pool per
 * origin) and a client can send its body as slowly as it likes: nginx buffers request bodies before it connects
 * upstream for that reason (proxy_request_buffering, https://nginx.org/en/docs/http/ngx_http_proxy_module.html).
 * We read up to a small bound ahead: a body that ends within it (most API calls and form posts) goes out whole, with
 * its head, and holds a socket only for as long as the upstream takes to answer; a larger one streams, and the pool
 * limits how many sockets such uploads may hold at once (origin.ts).
 */
import { UpstreamError } from "./errors.ts";

/** The part of a stream reader we use (the DOM and node:stream/web typings of getReader() differ). */
export interface BodyReader {
  read(): Promise<{ done: true; value?: Uint8Array } | { done: false; value: Uint8Array }>;
  cancel(reason?: unknown): Promise<void>;
  releaseLock(): void;
}

/** What was read ahead: the whole body (`rest` null), or its first chunks and the reader for the rest. */
export interface BodyAhead {
  chunks: Uint8Array[];
  bytes: number;
  rest: BodyReader | null;
}

/** A body that still streams from the client: the chunks read ahead go out first, then the rest of the reader. */
export interface StreamingBody {
  chunks: Uint8Array[];
  reader: BodyReader;
}

/**
 * What is read and thrown away of a request body nobody will forward, at most: over h2, Bun resets the stream of a
 * request whose body was not read to its end (cancelled, or left unread) before its answer, so the client sees a
 * protocol error instead of our 502 or 404 (a 1 MB POST: 3 in 20 answered after a cancel, 20 in 20 after reading
 * it all). nginx reads and discards such bodies too.
 */
export const DISCARD_MAX_BYTES = 8 * 1024 * 1024;
/** ... and for at most this long: a client that sends slowly gets its answer and a close. */
export const DISCARD_MAX_MS = 5_000;

/**
 * Reads `reader` to its end, keeping nothing, within the bounds above; then (or on a bound) cancels it. Resolves true
 * when the body ended, false when a bound or the client cut it short. Never rejects.
 */
export async function discardBody(reader: BodyReader): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"expired">((resolve) => {
    timer = setTimeout(() => resolve("expired"), DISCARD_MAX_MS);
  });
  let read = 0;
  let ended = false;
  try {
    while (read <= DISCARD_MAX_BYTES) {
      const next = await Promise.race([reader.read(), expired]);
      if (next === "expired") break;
      if (next.done) {
        ended = true;
        break;
      }
      read += next.value.byteLength;
    }
  } catch (error) {
    // The client reset the stream or went away while sending: nobody is left to answer, nothing to report.
    if (!(error instanceof Error)) throw error;
  } finally {
    clearTimeout(timer);
  }
  if (!ended) await reader.cancel().catch(cancelOfDeadClient);
  return ended;
}

/** cancel() rejects only for a stream that already errored: the client is gone, as discardBody found. */
function cancelOfDeadClient(_gone: unknown): void {}

export function bodyLengthError(message: string): UpstreamError {
  return new UpstreamError("protocol", `request body ${message}`, {
    hint: "the request's Content-Length does not match its body",
  });
}

/** Reads `body` until it ends or `limitBytes` are in. Rejects as the body does (the client went away, a timeout). */
export async function readAhead(body: ReadableStream<Uint8Array>, limitBytes: number): Promise<BodyAhead> {
  const reader: BodyReader = body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  try {
    while (bytes < limitBytes) {
      const result = await reader.read();
      if (result.done) {
        reader.releaseLock();
        return { chunks, bytes, rest: null };
      }
      if (result.value.byteLength === 0) continue;
      chunks.push(result.value);
      bytes += result.value.byteLength;
    }
  } catch (error) {
    reader.releaseLock();
    throw error;
  }
  return { chunks, bytes, rest: reader };
}

/** The whole body as one array; throws when it is not the length the request declared. */
export function wholeBody(ahead: BodyAhead, declared: number | undefined): Uint8Array {
  if (declared !== undefined && ahead.bytes !== declared) {
    throw bodyLengthError(
      ahead.bytes > declared ? "longer than declared" : `ended after ${ahead.bytes} of ${declared} bytes`,
    );
  }
  if (ahead.chunks.length === 1) return ahead.chunks[0] as Uint8Array;
  const joined = new Uint8Array(ahead.bytes);
  let offset = 0;
  for (const chunk of ahead.chunks) {
    joined.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return joined;
}
