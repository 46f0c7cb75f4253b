/**
 * The client body timeout: a request body that sends nothing for `timeoutMs` while the proxy is waiting for it
 * fails with ClientBodyTimeoutError, and the client gets a 408 with `Connection: close` (server.ts). As nginx's
 * client_body_timeout, it bounds the time between two reads, not the whole upload: a slow upload that keeps sending
 * is never cut, and time spent waiting for a slow upstream to take the bytes does not count (the clock runs only
 * while a read is pending). https://nginx.org/en/docs/http/ngx_http_core_module.html#client_body_timeout
 */
import type { OutgoingRequest, Upstream } from "./forward.ts";

export class ClientBodyTimeoutError extends Error {
  readonly kind = "client-timeout";

  constructor(timeoutMs: number) {
    super(`the client sent no request body bytes for ${timeoutMs / 1000} s`);
    this.name = "ClientBodyTimeoutError";
  }
}

export function isClientBodyTimeout(error: unknown): error is ClientBodyTimeoutError {
  return error instanceof ClientBodyTimeoutError;
}

/** `upstream`, with every request body read under the timeout; 0 or less: `upstream` unchanged. */
export function withClientBodyTimeout(upstream: Upstream, timeoutMs: number): Upstream {
  if (!(timeoutMs > 0)) return upstream;
  return (route, request: OutgoingRequest) =>
    request.body === null
      ? upstream(route, request)
      : upstream(route, { ...request, body: timedBody(request.body, timeoutMs) });
}

/**
 * A stream that yields `body`'s chunks and errors when one takes longer than `timeoutMs` to arrive. High-water mark
 * 0: it reads `body` only when its own reader asks, so the clock never runs ahead of the consumer.
 */
export function timedBody(body: ReadableStream<Uint8Array>, timeoutMs: number): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const expired = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new ClientBodyTimeoutError(timeoutMs)), timeoutMs);
        });
        try {
          const result = await Promise.race([reader.read(), expired]);
          if (result.done) controller.close();
          else controller.enqueue(result.value);
        } catch (error) {
          controller.error(error);
          // The client stays unread: its connection is closed with the 408, so nothing more is wanted from it.
          if (isClientBodyTimeout(error)) reader.cancel(error).catch(() => undefined);
        } finally {
          clearTimeout(timer);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
