/**
 * A request body gotunnel answers without forwarding (its own 404, 403, 308 or 508) is read and thrown away before
 * the answer goes out, within discardBody's bounds (upstream/request-body.ts). Unread, the client gets no answer at
 * all: over h2 Bun resets the stream (a 1 MB POST to an unknown name: 20 of 20 got nothing), and over HTTP/1.1 the
 * close that follows can reset the connection under a client still sending (4 of 20 got nothing).
 */
import { discardBody } from "./upstream/index.ts";

/** True when the body was read to its end (or there is none, or someone read it), false when a bound cut it short. */
export async function drainBody(req: Request): Promise<boolean> {
  if (req.bodyUsed) return true;
  const body = req.body;
  return body === null ? true : discardBody(body.getReader());
}
