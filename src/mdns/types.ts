/** The responder's public types: what the daemon passes to startMdns() and what it gets back. */
import type { RawInterfaces } from "./interfaces.ts";
import type { MdnsRoute } from "./records.ts";
import type { OpenTransport } from "./transport.ts";

/** Addresses can change at any time (DHCP, Wi-Fi roaming); polling this often keeps answers at most this stale. */
export const DEFAULT_INTERFACE_POLL_MS = 3000;

export type MdnsEvent =
  | { type: "announced"; names: string[]; interfaces: string[] }
  | { type: "conflict"; name: string; from: string }
  | { type: "goodbye"; names: string[] }
  | { type: "interfaces"; added: string[]; removed: string[]; changed: string[] }
  | { type: "ignored"; from: string; reason: string }
  | { type: "warning"; message: string; error: string };

export interface MdnsConflict {
  name: string;
  /** Address of the host that holds the name. */
  from: string;
  at: Date;
}

export interface StartMdnsOptions {
  routes: readonly MdnsRoute[];
  httpsPort: number;
  /** Advertises `https: false` routes as `_http._tcp` on this port; without it they get only their A/AAAA. */
  httpPort?: number;
  /** The global `lan` setting, for routes whose own `lan` is undefined. Default true. */
  lan?: boolean;
  onEvent?: (event: MdnsEvent) => void;
  interfacePollMs?: number;
  networkInterfaces?: () => RawInterfaces;
  openTransport?: OpenTransport;
}

export interface MdnsResponder {
  /** Replaces the routes: goodbyes for the ones that left, probe and announce for the new ones. */
  update(routes: readonly MdnsRoute[]): Promise<void>;
  /** Sends goodbyes for everything announced, then closes the sockets. */
  stop(): Promise<void>;
  readonly conflicts: readonly MdnsConflict[];
  /** Host names currently answered for. */
  readonly names: string[];
}
