/**
 * src/mdns owns gotunnel's presence on the LAN: an mDNS responder (RFC 6762) answering A/AAAA for `.local` routes,
 * a DNS-SD service (RFC 6763) per route, browsing for `gotunnel discover`, and the LAN sharing policy.
 *
 *   names.ts, ip.ts, wire.ts         names, addresses, the DNS message codec
 *   records.ts, answer.ts, claims.ts what we advertise, how we answer, probes/announcements/goodbyes
 *   conflict.ts, interfaces.ts       conflict rules; interface snapshots and the arrival interface of a packet
 *   transport.ts                     the only socket code (node:dgram): port 5353, or ephemeral for browsing
 *   responder.ts, types.ts           startMdns(): the lifecycle the daemon drives, and its types
 *   browse.ts                        discoverServices(): one-shot DNS-SD browsing
 *   lan.ts                           bindHostFor(), opensLan(), isLanAllowed(): pure LAN policy for the daemon and proxy
 *
 * The daemon imports this module lazily: the responder opens sockets only when a LAN route exists.
 */
export { type DiscoveredService, type DiscoverOptions, discoverServices } from "./browse.ts";
export { bindHostFor, isLanAllowed, isLanRoute, LAN_DEFAULT, type LanConfig, type LanRoute, opensLan } from "./lan.ts";
export type { MdnsRoute } from "./records.ts";
export { startMdns } from "./responder.ts";
export {
  DEFAULT_INTERFACE_POLL_MS,
  type MdnsConflict,
  type MdnsEvent,
  type MdnsResponder,
  type StartMdnsOptions,
} from "./types.ts";
