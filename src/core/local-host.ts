/**
 * Is a request from this machine, and did it name this machine? Pure checks on a client address and a Host header,
 * shared by the admin port (daemon/admin.ts) and the proxy's 404 page (proxy/pages.ts).
 *
 * A loopback client address is not enough on its own: through DNS rebinding, a web page in the user's own browser
 * points its name at 127.0.0.1 and reads loopback services as same-origin, sending its own name as the Host. So a
 * page meant only for this machine also checks that the Host is a name no web site can point here.
 */

/** The Host names the admin port answers, as Caddy's admin API allows (localhost, 127.0.0.1, ::1), with any port. */
const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1"]);
const IPV4_LITERAL = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** `[::1]:7070` → `::1`, `LocalHost:80` → `localhost`; undefined when the port is not digits or brackets are unclosed. */
export function hostnameOf(host: string): string | undefined {
  const lower = host.toLowerCase();
  if (lower.startsWith("[")) {
    const close = lower.indexOf("]");
    if (close === -1 || !isPortSuffix(lower.slice(close + 1))) return undefined;
    return lower.slice(1, close);
  }
  const colon = lower.indexOf(":");
  if (colon === -1) return lower;
  return isPortSuffix(lower.slice(colon)) ? lower.slice(0, colon) : undefined;
}

function isPortSuffix(text: string): boolean {
  return text === "" || /^:\d{1,5}$/.test(text);
}

/** Host `localhost`, `127.0.0.1` or `[::1]`, with or without a port. A missing Host is not one. */
export function isLoopbackHost(host: string | null): boolean {
  const name = host === null ? undefined : hostnameOf(host);
  return name !== undefined && LOOPBACK_NAMES.has(name);
}

/**
 * A Host no web site can make a browser send to this machine: an IP literal (there is no DNS answer to rebind),
 * `localhost` and `*.localhost` (RFC 6761 §6.3: always loopback, browsers never ask DNS), and `*.local` (RFC 6762
 * §3: resolved by multicast DNS on the link, never by the Internet's DNS).
 */
export function isUnreboundHost(host: string): boolean {
  const name = hostnameOf(host)?.replace(/\.$/, "");
  if (!name) return false;
  if (name.includes(":") || IPV4_LITERAL.test(name)) return true;
  return name === "localhost" || name.endsWith(".localhost") || name.endsWith(".local");
}

/**
 * 127.0.0.0/8 and ::1, also in the IPv4-mapped form (`::ffff:127.0.0.1`) that dual-stack sockets report
 * (RFC 4291 §2.5.5.2). Addresses as Bun's `requestIP` gives them: canonical text, no zone.
 */
export function isLoopbackAddress(address: string): boolean {
  const v4 = address.startsWith("::ffff:") ? address.slice("::ffff:".length) : address;
  if (IPV4_LITERAL.test(v4)) return v4.startsWith("127.");
  return address === "::1";
}
