/**
 * Where the proxy may listen on a port below 1024 as the user it runs as. Linux keeps its rule (root, or the
 * binary's cap_net_bind_service: platform/service/linux-ports.ts). macOS since 10.14 (Mojave) lets any user bind a
 * port below 1024, but only on the unspecified address (0.0.0.0 or ::); binding one address, 127.0.0.1 or ::1
 * included, still fails with EACCES unless root. Reports of exactly that split: apple/container#1985 (127.0.0.1:80
 * refused, 0.0.0.0:80 bound, non-root), crc-org/crc#2953 (binds below 1024 on every interface instead of loopback
 * for this reason), github/homebrew-bootstrap#93 (nginx on 80/443 as the user since 10.14), nodejs/node#21679 and
 * mitmproxy/mitmproxy#3437 (tests that expected EACCES on Mojave), and the Apple Developer Forums thread 674179.
 *
 * So on macOS, for a user who left `proxy.host` at its loopback default, the daemon listens on the wildcard and
 * the LAN guard (daemon/lan.ts) answers other machines exactly as a loopback-only listener would have: with nothing
 * for a route that is not shared. Pure: the platform and uid are parameters (the daemon passes its own).
 */

/** Below this, binding needs privilege (Darwin's IPPORT_RESERVED; Linux's default ip_unprivileged_port_start). */
export const FIRST_UNPRIVILEGED_PORT = 1024;
/** The loopback default of `proxy.host` (config/schema.ts). */
const LOOPBACK_V4 = "127.0.0.1";
const ANY_V4 = "0.0.0.0";
/** Dual-stack: Bun clears IPV6_V6ONLY, so IPv4 clients arrive as ::ffff:a.b.c.d and ::1 is served as well. */
const ANY_V6 = "::";

export interface PortBindInput {
  platform: NodeJS.Platform;
  /** The daemon's uid; undefined on Windows. */
  uid: number | undefined;
  port: number;
  /** `proxy.host` when the user set it; undefined when it is the loopback default. */
  configuredHost: string | undefined;
  /** Whether this machine has IPv6 loopback, so the wildcard can be the dual-stack `::`. Default: false. */
  ipv6?: boolean;
}

export interface PortBind {
  /** The address to listen on for this port. */
  host: string;
  /**
   * True when `host` reaches further than the LAN policy asked for (only because loopback cannot be bound): every
   * non-loopback client must be refused for a route that is not shared.
   */
  guarded: boolean;
}

/** Whether an unprivileged process may bind `port` only on the wildcard address here. */
function wildcardOnly({ platform, uid, port }: PortBindInput): boolean {
  return platform === "darwin" && uid !== 0 && port > 0 && port < FIRST_UNPRIVILEGED_PORT;
}

/** The address for `port`: the configured host as is, or the wildcard (guarded) where only that can be bound. */
export function portBind(input: PortBindInput): PortBind {
  if (input.configuredHost !== undefined) return { host: input.configuredHost, guarded: false };
  if (!wildcardOnly(input)) return { host: LOOPBACK_V4, guarded: false };
  return { host: input.ipv6 === true ? ANY_V6 : ANY_V4, guarded: true };
}

/**
 * `GOTUNNEL_TEST_PORT_RULE=darwin-user` makes a daemon apply macOS's rule as a user who is not root. Only tests set
 * it (tests/e2e/darwin-ports.test.ts), to run the guarded wildcard mode on Linux, where no Mac is at hand.
 */
export function portRuleSubject(
  env: Record<string, string | undefined>,
  platform: NodeJS.Platform,
  uid: number | undefined,
): { platform: NodeJS.Platform; uid: number | undefined } {
  if (env.GOTUNNEL_TEST_PORT_RULE === "darwin-user") return { platform: "darwin", uid: 501 };
  return { platform, uid };
}
