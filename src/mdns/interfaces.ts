/**
 * Network interfaces as the responder sees them: a snapshot of `os.networkInterfaces()`, the interface a packet
 * arrived on (from its source address), the addresses to advertise on it, and what changed between two polls.
 * Pure functions over the snapshot; reading the OS is the caller's job (a seam for tests).
 */
import type { NetworkInterfaceInfo } from "node:os";
import { compareCodeUnits } from "../core/compare.ts";
import { isLinkLocalV6, isLoopback, parseIPv4, parseIPv6, sameSubnet, withoutZone, zoneOf } from "./ip.ts";

export interface InterfaceAddress {
  address: string;
  netmask: string;
}

export interface NetInterface {
  name: string;
  /** Loopback: never joined for multicast, only used to answer a unicast query sent to 127.0.0.1 or ::1. */
  internal: boolean;
  v4: InterfaceAddress[];
  v6: InterfaceAddress[];
}

export type RawInterfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

/** Node ≤ 18.3 reported the family as a number; Bun and current Node say "IPv4"/"IPv6". */
function familyOf(info: NetworkInterfaceInfo): 4 | 6 | undefined {
  const family = info.family as string | number;
  if (family === "IPv4" || family === 4) return 4;
  if (family === "IPv6" || family === 6) return 6;
  return undefined;
}

export function snapshotInterfaces(raw: RawInterfaces): NetInterface[] {
  const result: NetInterface[] = [];
  for (const [name, infos = []] of Object.entries(raw)) {
    const iface: NetInterface = { name, internal: infos.some((info) => info.internal), v4: [], v6: [] };
    for (const info of infos) {
      const family = familyOf(info);
      const entry = { address: withoutZone(info.address), netmask: info.netmask };
      if (family === 4 && parseIPv4(entry.address)) iface.v4.push(entry);
      if (family === 6 && parseIPv6(entry.address)) iface.v6.push(entry);
    }
    if (iface.v4.length + iface.v6.length > 0) result.push(iface);
  }
  return result.sort((a, b) => compareCodeUnits(a.name, b.name));
}

/** The interfaces that face the network: the ones we join the mDNS groups on and announce over. */
export function lanInterfaces(ifaces: readonly NetInterface[]): NetInterface[] {
  return ifaces.filter((iface) => !iface.internal);
}

/**
 * The interface a packet from `source` arrived on. A zone (`fe80::1%eth0`) names it; otherwise the source must be
 * inside one of our subnets. That same test is RFC 6762 §11's rule that a responder answers only on-link sources,
 * so `undefined` means "do not answer".
 */
export function interfaceFor(ifaces: readonly NetInterface[], source: string): NetInterface | undefined {
  const zone = zoneOf(source);
  if (zone !== undefined) {
    const named = ifaces.find((iface) => iface.name === zone);
    if (named) return named;
  }
  const address = withoutZone(source);
  if (isLoopback(address)) return ifaces.find((iface) => iface.internal);
  const onLink = ifaces.filter((iface) =>
    [...iface.v4, ...iface.v6].some((own) => sameSubnet(address, own.address, own.netmask)),
  );
  // fe80::/64 is on every interface: without a zone, only an unambiguous match is trusted.
  if (isLinkLocalV6(address)) return onLink.filter((iface) => !iface.internal).length === 1 ? onLink[0] : undefined;
  return onLink[0];
}

/**
 * The addresses we put in A/AAAA answers on `iface` (RFC 6762 §6.2: those valid on the interface the answer goes
 * out on). Link-local IPv6 is included only when the interface has no routable IPv6 address, as avahi does: a
 * fe80:: address from a name lookup has no zone, so browsers cannot connect to it.
 */
export function advertisedAddresses(iface: NetInterface): { v4: string[]; v6: string[] } {
  const routable = iface.v6.filter((entry) => !isLinkLocalV6(entry.address));
  const v6 = routable.length > 0 ? routable : iface.v6;
  return { v4: iface.v4.map((entry) => entry.address), v6: v6.map((entry) => entry.address) };
}

/** Every address of every interface: our own records carry these, so seeing one is never a conflict. */
export function allAddresses(ifaces: readonly NetInterface[]): Set<string> {
  return new Set(ifaces.flatMap((iface) => [...iface.v4, ...iface.v6].map((entry) => entry.address)));
}

export interface InterfaceChanges {
  added: string[];
  removed: string[];
  /** Present before and after, with a different set of addresses. */
  changed: string[];
}

export function diffInterfaces(before: readonly NetInterface[], after: readonly NetInterface[]): InterfaceChanges {
  const key = (iface: NetInterface) =>
    [...iface.v4, ...iface.v6]
      .map((entry) => `${entry.address}/${entry.netmask}`)
      .sort()
      .join(",");
  const old = new Map(lanInterfaces(before).map((iface) => [iface.name, key(iface)]));
  const now = new Map(lanInterfaces(after).map((iface) => [iface.name, key(iface)]));
  return {
    added: [...now.keys()].filter((name) => !old.has(name)),
    removed: [...old.keys()].filter((name) => !now.has(name)),
    changed: [...now.keys()].filter((name) => old.has(name) && old.get(name) !== now.get(name)),
  };
}

export function hasChanges(changes: InterfaceChanges): boolean {
  return changes.added.length + changes.removed.length + changes.changed.length > 0;
}
