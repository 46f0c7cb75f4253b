/**
 * Who may use the dashboard. Reads: a client on this machine (loopback address) that named the dashboard in its
 * Host, so a page elsewhere cannot read it through DNS rebinding (core/local-host.ts explains the attack), and no
 * other site can read its answers (no CORS headers are ever sent). Changes (stop a route, replay, capture): also
 * the page's token in a header and the dashboard's exact Origin, because any web site may send a POST to
 * gotunnel.localhost from the user's own browser (a cross-site request forgery, OWASP's CSRF cheat sheet:
 * "synchronizer token" plus "verifying origin with standard headers").
 */
import { timingSafeEqual } from "node:crypto";
import { DASHBOARD_HOST } from "../../core/dashboard.ts";
import { isLoopbackAddress } from "../../core/local-host.ts";
import { normalizeHost } from "../../proxy/router.ts";

/** The header a state-changing request carries the page's token in. */
export const TOKEN_HEADER = "x-gotunnel-token";
const TOKEN_BYTES = 32;

/** A fresh random token, per daemon: the page embeds it, so only a page the dashboard served can send it. */
export function newToken(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(TOKEN_BYTES))).toString("base64url");
}

export type Refusal = { status: 403; reason: string };

/** Why a read is refused, or undefined when the client may read. */
export function readRefusal(host: string | null, clientIp: string): Refusal | undefined {
  if (!isLoopbackAddress(clientIp)) return { status: 403, reason: "the dashboard is served to this computer only" };
  if (host === null || normalizeHost(host) !== DASHBOARD_HOST) {
    return { status: 403, reason: `the dashboard answers only to the name ${DASHBOARD_HOST}` };
  }
  return undefined;
}

/** Why a change is refused, or undefined when it carries the token and comes from the dashboard's own origin. */
export function changeRefusal(headers: Headers, clientIp: string, origin: string, token: string): Refusal | undefined {
  const read = readRefusal(headers.get("host"), clientIp);
  if (read) return read;
  const sentOrigin = headers.get("origin");
  if (sentOrigin !== origin) {
    return {
      status: 403,
      reason: `a change must come from the dashboard's page (Origin ${origin}), not ${sentOrigin ?? "no Origin"}`,
    };
  }
  if (!sameToken(headers.get(TOKEN_HEADER), token)) {
    return { status: 403, reason: "a change needs the dashboard page's token: reload the page" };
  }
  return undefined;
}

/** Constant-time, so the token cannot be guessed a byte at a time from response timings. */
function sameToken(sent: string | null, token: string): boolean {
  if (sent === null) return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
