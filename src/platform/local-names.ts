/**
 * Do `.local` names resolve on this machine by multicast DNS (RFC 6762), with no hosts entry? macOS
 * (mDNSResponder) and Windows 10+ ask mDNS by themselves; Linux does when nss-mdns is in the `hosts:` line of
 * /etc/nsswitch.conf and avahi-daemon answers its socket (what desktop distributions ship). Then gotunnel's own
 * responder answers for the routes it shares, and root never has to write the hosts file for them.
 */
import { installCommand, type OsInfo } from "./detect.ts";

export type Resolution = { ok: true; how: string } | { ok: false; why: string; fix?: string };

const NSSWITCH = "/etc/nsswitch.conf";
/** avahi-daemon's socket, which nss-mdns asks (nss-mdns README, "avahi"). */
const AVAHI_SOCKET = "/run/avahi-daemon/socket";
const NSS_MDNS = {
  debian: "libnss-mdns avahi-daemon",
  fedora: "nss-mdns avahi",
  arch: "nss-mdns avahi",
  suse: "nss-mdns avahi",
};

/** The `hosts:` sources of an nsswitch.conf text, e.g. ["files", "mdns4_minimal", "[NOTFOUND=return]", "dns"]. */
export function hostsSources(text: string | undefined): string[] {
  const line = (text ?? "").split("\n").find((candidate) => /^\s*hosts\s*:/.test(candidate));
  return line
    ? line
        .replace(/^\s*hosts\s*:/, "")
        .replace(/#.*/, "")
        .trim()
        .split(/\s+/)
    : [];
}

export function localNameResolution(
  os: OsInfo,
  readText: (path: string) => string | undefined,
  exists: (path: string) => boolean,
): Resolution {
  if (os.platform === "darwin") return { ok: true, how: "mDNSResponder resolves .local names" };
  if (os.platform === "win32") return { ok: true, how: "Windows resolves .local names by mDNS" };
  const sources = hostsSources(readText(NSSWITCH));
  const fix = installCommand(os, NSS_MDNS);
  if (!sources.some((source) => source.startsWith("mdns"))) {
    return {
      ok: false,
      why: `this machine does not ask mDNS for .local names (no mdns in the hosts line of ${NSSWITCH})`,
      ...(fix ? { fix } : {}),
    };
  }
  if (!exists(AVAHI_SOCKET)) {
    return {
      ok: false,
      why: `nss-mdns is set up but avahi-daemon is not running (no ${AVAHI_SOCKET})`,
      fix: "sudo systemctl enable --now avahi-daemon",
    };
  }
  return { ok: true, how: "nss-mdns and avahi resolve .local names" };
}
