/**
 * The JSON the dashboard page reads: route rows, request summaries (the live list) and one request's detail. Pure
 * functions of what the daemon keeps; secret-looking query values are redacted from paths as in `gotunnel logs`.
 */
import { redactSecrets } from "../../core/redact.ts";
import { type BodyTap, tapBytes } from "../../proxy/capture.ts";
import type { RouteInfo } from "../control/protocol.ts";
import { type LogEntry, logLine } from "../request-log.ts";
import { ownerLabel } from "../routes.ts";
import { curlCommand } from "./curl.ts";

/** Set on a replayed request (replay.ts), so the list can say which request it repeats. */
export const REPLAY_HEADER = "x-gotunnel-replay";

export interface RouteRow {
  name: string;
  url: string;
  target: string;
  owner: string;
  session: boolean;
  status: RouteInfo["status"];
  problem?: string;
  requests: number;
  /** ISO date the route's certificate expires; absent for an HTTP route or one not served. */
  certificateExpires?: string;
  capture: boolean;
}

export function routeRows(
  routes: readonly RouteInfo[],
  expiries: readonly { certificate: string; notAfter: Date }[],
  capturing: ReadonlySet<string>,
): RouteRow[] {
  const expiry = new Map(expiries.map((leaf) => [leaf.certificate, leaf.notAfter.toISOString()]));
  return routes.map((route) => {
    const certificateExpires = route.https
      ? (expiry.get(route.name) ?? expiry.get(`*.${route.name.replace(/^\*\./, "")}`))
      : undefined;
    return {
      name: route.name,
      url: route.url,
      target: route.target.origin,
      owner: ownerLabel(route.owner),
      // A route from a container is not saved either, but it lasts as long as the container, not a session.
      session: !route.persistent && route.owner.kind !== "docker",
      status: route.status,
      ...(route.problem ? { problem: route.problem.message } : {}),
      requests: route.requests,
      ...(certificateExpires ? { certificateExpires } : {}),
      capture: capturing.has(route.name),
    };
  });
}

export interface RequestSummary {
  id: number;
  time: string;
  method: string;
  host: string;
  path: string;
  status: number;
  durationMs: number;
  route?: string;
  /** Response body bytes: Content-Length, or what capture counted; absent when unknown (a stream). */
  size?: number;
  error?: string;
  captured: boolean;
  /** The id of the request this one replays. */
  replayOf?: number;
}

export function requestSummary({ id, timeMs, event }: LogEntry): RequestSummary {
  // The line `gotunnel logs` prints (redacted path, rounded duration, the error's message), without trace ids.
  const { traceId: _traceId, spanId: _spanId, ...line } = logLine(event, timeMs);
  const size = responseSize(event.responseLength, event.capture?.response);
  const replayOf = Number(event.requestHeaders?.get(REPLAY_HEADER) ?? Number.NaN);
  return {
    id,
    ...line,
    ...(size === undefined ? {} : { size }),
    captured: event.capture !== undefined,
    ...(Number.isInteger(replayOf) ? { replayOf } : {}),
  };
}

function responseSize(length: string | null | undefined, tap: BodyTap | undefined): number | undefined {
  if (tap?.done) return tap.totalBytes;
  return length != null && /^\d+$/.test(length) ? Number(length) : undefined;
}

export interface CapturedBody {
  /** UTF-8 text when the bytes are text; else base64. */
  text?: string;
  base64?: string;
  totalBytes: number;
  truncated: boolean;
  /** False while the body is still streaming. */
  complete: boolean;
}

export interface RequestDetail extends RequestSummary {
  requestHeaders: [string, string][];
  responseHeaders: [string, string][];
  timing: { durationMs: number; note: string };
  capture?: { request?: CapturedBody; response?: CapturedBody };
  curl: string;
  /** Whether replay.ts can send it again: its body is known (none, or captured whole). */
  replayable: boolean;
}

export function requestDetail(entry: LogEntry, context: { scheme: "https" | "http"; caPath: string }): RequestDetail {
  const { event } = entry;
  const requestHeaders = [...(event.requestHeaders?.entries() ?? [])];
  const request = event.capture?.request && capturedBody(event.capture.request);
  const response = event.capture?.response && capturedBody(event.capture.response);
  return {
    ...requestSummary(entry),
    requestHeaders,
    responseHeaders: responseFields(event.responseHeaders, event.responseLength),
    timing: { durationMs: event.durationMs, note: "from the request's arrival to the response's headers" },
    ...(event.capture ? { capture: { ...(request ? { request } : {}), ...(response ? { response } : {}) } } : {}),
    curl: curlCommand({
      method: event.method,
      url: `${context.scheme}://${event.host}${redactSecrets(event.path)}`,
      headers: requestHeaders,
      ...(request?.text !== undefined && request.totalBytes > 0 ? { body: request.text } : {}),
      caPath: context.caPath,
    }),
    replayable: replayBody(entry) !== "unknown",
  };
}

/** A request's body for a replay: none, the captured bytes, or "unknown" (not captured, cut, or still arriving). */
export function replayBody(entry: LogEntry): Uint8Array | null | "unknown" {
  const tap = entry.event.capture?.request;
  if (tap)
    return tap.done && tap.totalBytes === tap.keptBytes ? (tap.totalBytes === 0 ? null : tapBytes(tap)) : "unknown";
  const headers = entry.event.requestHeaders;
  const length = headers?.get("content-length");
  const hasBody = (length != null && length !== "0") || headers?.has("transfer-encoding") === true;
  return hasBody ? "unknown" : null;
}

/** The response's fields as sent: Bun has taken Content-Length out of the Headers by now, so it is put back. */
function responseFields(headers: Headers | undefined, length: string | null | undefined): [string, string][] {
  const fields = [...(headers?.entries() ?? [])];
  if (length != null && !headers?.has("content-length")) fields.push(["content-length", length]);
  return fields;
}

function capturedBody(tap: BodyTap): CapturedBody {
  const bytes = tapBytes(tap);
  const common = { totalBytes: tap.totalBytes, truncated: tap.totalBytes > tap.keptBytes, complete: tap.done };
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes), ...common };
  } catch {
    // Not UTF-8 (an image, gzip): shown as base64 instead, which is what fatal decoding is for.
    return { base64: Buffer.from(bytes).toString("base64"), ...common };
  }
}
