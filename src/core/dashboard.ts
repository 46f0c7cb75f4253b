/**
 * Where the dashboard lives: a name under `.localhost`, which browsers resolve to loopback themselves without asking
 * DNS (RFC 6761 §6.3; Chromium and Firefox both hard-code it), so no hosts entry is needed and no web site can point
 * the name elsewhere. The daemon serves it on its HTTPS listener, with a certificate for this name.
 */
export const DASHBOARD_HOST = "gotunnel.localhost";

const HTTPS_DEFAULT_PORT = 443;

/** `https://gotunnel.localhost`, with the port when the proxy is not on 443: also the page's exact Origin. */
export function dashboardOrigin(httpsPort: number): string {
  return httpsPort === HTTPS_DEFAULT_PORT ? `https://${DASHBOARD_HOST}` : `https://${DASHBOARD_HOST}:${httpsPort}`;
}
