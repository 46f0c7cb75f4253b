/**
 * Replays a logged request through the proxy itself, as its client sent it (method, path, fields, captured body),
 * so the replay is forwarded with the route's rules and shows up in the live list, marked with REPLAY_HEADER.
 */
import { GotunnelError } from "../../core/errors.ts";
import type { LogEntry } from "../request-log.ts";
import { REPLAY_HEADER, replayBody } from "./views.ts";

/** Fields that describe the original connection, not the request: fetch sets its own. */
const CONNECTION_FIELDS = new Set([
  "host",
  "content-length",
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
]);
/** A replay waits this long for the response's headers, like a browser tab would not forever. */
const REPLAY_TIMEOUT_MS = 30_000;

export interface ReplayTarget {
  ports: { https: number; http: number };
  caPem: string;
  /** Whether the route is served over HTTPS (else plain HTTP). */
  https: boolean;
}

export async function replay(entry: LogEntry, target: ReplayTarget): Promise<{ status: number }> {
  const body = replayBody(entry);
  if (body === "unknown") {
    throw new GotunnelError("E_USAGE", `request ${entry.id} has a body that was not captured whole`, {
      hint: "turn capture on for the route, make the request again, then replay that one",
    });
  }
  const { event } = entry;
  const headers = new Headers();
  for (const [name, value] of event.requestHeaders ?? []) if (!CONNECTION_FIELDS.has(name)) headers.append(name, value);
  headers.set("host", event.host);
  headers.set(REPLAY_HEADER, String(entry.id));
  const name = event.host.replace(/:\d+$/, "");
  const url = target.https
    ? `https://127.0.0.1:${target.ports.https}${event.path}`
    : `http://127.0.0.1:${target.ports.http}${event.path}`;
  // `fetch` sends our Host as is and checks the certificate for `serverName` (CONTRIBUTING.md, Bun facts).
  const response = await fetch(url, {
    method: event.method,
    headers,
    body,
    redirect: "manual",
    decompress: false,
    signal: AbortSignal.timeout(REPLAY_TIMEOUT_MS),
    ...(target.https ? { tls: { serverName: name, ca: target.caPem } } : {}),
  });
  await response.body?.cancel();
  return { status: response.status };
}
