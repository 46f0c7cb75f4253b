/**
 * An upstream answer that is a framework refusing the route's name (a Vite "Blocked request" 403, Next's 403 on its
 * dev endpoints…): the client gets the same status with gotunnel's explanation (pages.ts frameworkRefusalPage), and
 * the request log gets the refusal as the request's error, so `up`, `gotunnel logs` and `doctor routes` show it.
 * Only unencoded 400/403 bodies are read, up to REFUSAL_BODY_MAX_BYTES; every other answer streams through untouched.
 */
import { detectRefusal, REFUSAL_STATUSES, type Refusal, refusalText } from "../frameworks/refusals.ts";
import { frameworkRefusalPage } from "./pages.ts";
import type { ProxyRoute } from "./router.ts";

/** Django's DEBUG page for DisallowedHost is ~70 KiB; refusals from the others are a line. */
export const REFUSAL_BODY_MAX_BYTES = 256 * 1024;

/** The request's error in the log and metrics when a framework refused it (kind "framework"). */
export class FrameworkRefusal extends Error {
  readonly kind = "framework";
  constructor(readonly refusal: Refusal) {
    super(refusalText(refusal));
    this.name = "FrameworkRefusal";
  }
}

/**
 * Whether the body of `response` may be a refusal worth reading: a 400 or 403 that is not compressed and not
 * declared larger than REFUSAL_BODY_MAX_BYTES (Vite sends its refusal chunked, with no Content-Length).
 */
export function mayBeRefusal(response: Response): boolean {
  if (!REFUSAL_STATUSES.has(response.status) || response.body === null) return false;
  if (response.headers.has("content-encoding")) return false;
  const length = response.headers.get("content-length");
  return length === null || Number(length) <= REFUSAL_BODY_MAX_BYTES;
}

/** Reads a possible refusal; returns the response to send (rebuilt: its body was read) and the refusal as an error. */
export async function explainRefusal(
  req: Request,
  route: ProxyRoute,
  path: string,
  response: Response,
): Promise<{ response: Response; error: FrameworkRefusal | undefined }> {
  const read = await readAtMost(response.body as ReadableStream<Uint8Array>, REFUSAL_BODY_MAX_BYTES);
  const init = { status: response.status, statusText: response.statusText, headers: response.headers };
  if (read.rest) return { response: new Response(read.rest, init), error: undefined };
  const body = new TextDecoder().decode(read.bytes);
  const refusal = detectRefusal({ status: response.status, path, body, upgrade: false }, route.name);
  if (!refusal) return { response: new Response(read.bytes, init), error: undefined };
  return {
    response: frameworkRefusalPage(req, route, refusal, response.status, body),
    error: new FrameworkRefusal(refusal),
  };
}

/**
 * The whole body when it ends within `max` bytes; otherwise a stream of everything (what was read, then the rest),
 * so a large 403 still reaches the client whole and streamed.
 */
async function readAtMost(
  body: ReadableStream<Uint8Array>,
  max: number,
): Promise<{ bytes: Uint8Array; rest?: undefined } | { rest: ReadableStream<Uint8Array> }> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { bytes: Buffer.concat(chunks, size) };
    chunks.push(value);
    size += value.byteLength;
    if (size > max) break;
  }
  const rest = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return { rest };
}
