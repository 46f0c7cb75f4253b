/**
 * What the browser bench needs from each target: the page's URL when the servers are reached at a given address,
 * the CA the browser must trust, and how to stop it. Every target serves the same Vite dev server (vite.ts).
 */
import type { CpuPlan } from "../lib/cpu.ts";
import type { BrowserBenchOptions, BrowserTargetName } from "./options.ts";

/** The one name every HTTPS target serves; the browser maps it to the servers' address (--host-resolver-rules). */
export const PAGE_HOST = "bench.local";

export interface TargetContext {
  options: BrowserBenchOptions;
  /** Private temp dir for configs, logs, certificates and state. */
  dir: string;
  cpus: CpuPlan | null;
  /** The Vite dev server every proxy forwards to, on 127.0.0.1. */
  vitePort: number;
  /**
   * Where servers listen: 0.0.0.0 inside the bench's private network namespace (the far condition's browser comes
   * over the link, as a phone on the LAN would), 127.0.0.1 when the run is not isolated.
   */
  bindHost: string;
  /** The link's server-side address, when there is a far link (network.ts). */
  linkAddress: string | null;
}

export interface BrowserTarget {
  name: BrowserTargetName;
  /** The page's URL with the servers at `address` (127.0.0.1, or the far link's address). */
  url(address: string): string;
  /** The CA certificate (PEM file) the browser must trust; null for plain HTTP. */
  caPath: string | null;
  /** For the report: what runs, and how it is configured. */
  version: string;
  stop(): Promise<void>;
}

/** A target that cannot run here (a program missing), with the reason for the report. */
export class SkipTarget extends Error {}

export function httpsUrl(port: number): (address: string) => string {
  return () => `https://${PAGE_HOST}:${port}/`;
}
