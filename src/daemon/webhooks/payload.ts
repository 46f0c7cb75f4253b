/**
 * What a webhook receives (docs/webhooks.md is the contract): one JSON object per event, the same bytes on every
 * attempt, signed with the webhook's secret. The signature follows GitHub's webhook convention, so receivers can use
 * a library they know: `X-Gotunnel-Signature: sha256=<lower-case hex HMAC-SHA256 of the exact body>` (RFC 2104).
 */
import { createHmac } from "node:crypto";
import type { WebhookEvent } from "../../config/notify.ts";
import { buildInfo } from "../../core/build-info.ts";

export const SIGNATURE_HEADER = "x-gotunnel-signature";
export const EVENT_HEADER = "x-gotunnel-event";
export const DELIVERY_HEADER = "x-gotunnel-delivery";
export const ATTEMPT_HEADER = "x-gotunnel-attempt";

/** The route an event is about, as `gotunnel list` names it. */
export interface RouteRef {
  name: string;
  url: string;
  target: string;
}

/** Why a route went up or down. */
export type RouteReason = "added" | "changed" | "restored" | "removed" | "daemon-stopped";

export type EventData =
  | { event: "route.up" | "route.down"; route: RouteRef; reason: RouteReason }
  | { event: "upstream.down" | "upstream.up"; route: RouteRef }
  | { event: "certificate.expiring"; certificate: { name: "ca"; path: string; notAfter: string; daysLeft: number } };

export interface EventBody {
  /** The delivery's id, also sent as X-Gotunnel-Delivery: a receiver that sees it twice can drop the second. */
  id: string;
  event: WebhookEvent;
  /** When it happened (ISO 8601), not when it was sent: a retried delivery keeps it. */
  time: string;
  daemon: { pid: number; version: string };
}

/** The exact body bytes of one event. */
export function eventBody(data: EventData, id: string, now: Date): string {
  const { event, ...facts } = data;
  const head: EventBody = {
    id,
    event,
    time: now.toISOString(),
    daemon: { pid: process.pid, version: buildInfo().version },
  };
  return JSON.stringify({ ...head, ...facts });
}

/** `sha256=<hex>` of HMAC-SHA256(secret, body). */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}
