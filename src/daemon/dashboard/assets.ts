/**
 * The dashboard's page, script and style, compiled into the binary as text (Bun's `with { type: "text" }`): no CDN,
 * nothing fetched at run time. Vanilla JavaScript and CSS, no build step. The headers every answer carries are here.
 */

import appCss from "./assets/app.css" with { type: "text" };
import appJs from "./assets/app.js" with { type: "text" };
import indexHtml from "./assets/index.html" with { type: "text" };

/**
 * Scripts, styles, fetches and the event stream only from the dashboard itself; no inline script or style (so an
 * injected `<script>` or `onclick` does nothing); images from itself or `data:`; never framed (clickjacking).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store",
};

/** Bun's types call an `.html` import an HTMLBundle; with `type: "text"` it is the file's text. */
const PAGE = indexHtml as unknown as string;
const TOKEN_PLACEHOLDER = "{{TOKEN}}";

/** The page, with this daemon's token in its `<meta name="gotunnel-token">` (guard.ts). */
export function pageHtml(token: string): string {
  return PAGE.replace(TOKEN_PLACEHOLDER, token);
}

export const STATIC_FILES: Record<string, [body: string, contentType: string]> = {
  "/app.js": [appJs, "text/javascript; charset=utf-8"],
  "/app.css": [appCss, "text/css; charset=utf-8"],
};
