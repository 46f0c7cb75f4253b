/**
 * In-memory certificate store: the proxy asks it for `Bun.serve` `tls` entries, one set per route, and it issues,
 * caches and renews leaves. It also keeps spare certificates for names with no route (tls/spare.ts). Nothing is
 * written to disk.
 *
 * It does not sign anything itself: `issue` does. In the daemon that is the certificate issuer child process
 * (issuer/client.ts), so this module, which the daemon loads, imports no part of @peculiar/x509 (only types).
 */

import { traced } from "../telemetry/tracing.ts";
import type { LocalCA } from "./ca.ts";
import { assertPermitted } from "./constraints.ts";
import { DAY_MS } from "./expiry.ts";
import type { LeafCertificate } from "./leaf.ts";
import { SpareLeaves } from "./spare.ts";

/** Signs a leaf for `names` (tls/leaf.ts issueLeaf's rules) valid from `now`. */
export type LeafIssuer = (names: string[], now: Date) => Promise<LeafCertificate>;

/** Reissue a cached leaf this long before it expires, so a long-running daemon never serves an expired one. */
export const RENEW_BEFORE_DAYS = 30;
/**
 * Bun.serve serves the FIRST tls entry to clients whose SNI matches no entry, and to clients that send no SNI at
 * all (SNI never carries IP literals: RFC 6066 §3), so the default covers how people reach the proxy by address.
 */
export const DEFAULT_CERT_NAMES = ["localhost", "127.0.0.1", "::1"];
/** Cannot collide with a route key: host names never contain parentheses. */
const DEFAULT_KEY = "(default)";

/** One element of `Bun.serve({ tls: [...] })`. */
export interface TlsEntry {
  serverName: string;
  cert: string;
  key: string;
}

export interface TlsRoute {
  /** `foo.local`; for a wildcard route either `foo.local` or `*.foo.local`. */
  name: string;
  /** Serve `foo.local` and every `*.foo.local` with one certificate. */
  wildcard: boolean;
}

/** What the last call did, so the caller can log "issued N certificates in X ms". */
export interface IssueStats {
  issued: number;
  reused: number;
  elapsedMs: number;
}

interface Counts {
  issued: number;
  reused: number;
}

export interface CertificateStoreOptions {
  /** Who signs: issuer/client.ts in the daemon, leaf.ts issuerFor(ca) in a command or a test. */
  issue: LeafIssuer;
  /** Clock seam for renewal tests. */
  now?: () => Date;
  /** How many spare certificates to keep (tls/spare.ts MAX_SPARE_CERTIFICATES). */
  maxSpares?: number;
}

export class CertificateStore {
  readonly #ca: LocalCA;
  readonly #issue: LeafIssuer;
  readonly #now: () => Date;
  readonly #leaves = new Map<string, Promise<LeafCertificate>>();
  readonly #spares: SpareLeaves;
  #lastStats: IssueStats = { issued: 0, reused: 0, elapsedMs: 0 };

  constructor(ca: LocalCA, options: CertificateStoreOptions) {
    this.#ca = ca;
    this.#issue = options.issue;
    this.#now = options.now ?? (() => new Date());
    this.#spares = new SpareLeaves(options.maxSpares);
  }

  /** Stats of the most recent entriesFor / defaultEntry / tlsEntries call. */
  get lastStats(): IssueStats {
    return { ...this.#lastStats };
  }

  /**
   * Entries for the routes, issuing or renewing leaves as needed. A wildcard route yields two entries sharing one
   * certificate: `*.foo.local`, and `foo.local` itself because Bun's wildcard serverName does not match the bare name.
   * Leaves of routes not in the list become spares (tls/spare.ts).
   */
  async entriesFor(routes: TlsRoute[]): Promise<TlsEntry[]> {
    return this.#measure((counts) => this.#routeEntries(routes, counts));
  }

  /**
   * Throws E_TLS when the CA may not vouch for the route's names (tls/constraints.ts), without signing anything: the
   * daemon checks a route this way before it commits a change, and skips a restored route that fails it.
   */
  check(route: TlsRoute): void {
    assertPermitted(routeNames(route), this.#ca.nameConstraints);
  }

  /** A certificate for localhost, 127.0.0.1 and ::1: put it FIRST in the tls array (see DEFAULT_CERT_NAMES). */
  async defaultEntry(): Promise<TlsEntry> {
    return this.#measure((counts) => this.#defaultEntry(counts));
  }

  /**
   * The whole `tls` array for Bun.serve: the default entry first, then every route's entries, then the spares (a
   * route's entry wins over a spare for the same name: dedupe keeps the first).
   */
  async tlsEntries(routes: TlsRoute[]): Promise<TlsEntry[]> {
    return this.#measure(async (counts) => {
      const [first, rest] = await Promise.all([this.#defaultEntry(counts), this.#routeEntries(routes, counts)]);
      const spares = await this.#spares.usable((leaf) => this.#isFresh(leaf));
      return dedupe([first, ...rest, ...spares.flatMap(entriesOf)]);
    });
  }

  /**
   * True when a route's or a spare's certificate covers `name` (a host name in normal form), or one is being issued.
   * A wildcard covers one more label (`a.foo.local` under `*.foo.local`), as in RFC 6125 §6.4.3.
   */
  covers(name: string): boolean {
    const parent = name.slice(name.indexOf(".") + 1);
    const keys = [name, `*.${name}`, `*.${parent}`];
    return keys.some((key) => this.#leaves.has(key) || this.#spares.has(key));
  }

  /**
   * Issues a spare certificate for `name`, which no route serves, so the next tlsEntries serves it. The caller has
   * checked that the name is in scope and within the rate limit (daemon/on-demand.ts).
   */
  async issueSpare(name: string): Promise<void> {
    assertPermitted([name], this.#ca.nameConstraints);
    const leaf = this.#issue([name], this.#now());
    this.#spares.add(name, leaf);
    try {
      await leaf;
    } catch (error) {
      // As #leaf: no cached failure, or a later route of that name would replay it.
      if (this.#spares.get(name) === leaf) this.#spares.take(name);
      throw error;
    }
  }

  /**
   * Every cached leaf's expiry, for `/metrics`: the route name (`*.name` for a wildcard), or "default" for the
   * localhost certificate. Leaves still being issued are left out.
   */
  async expiries(): Promise<{ certificate: string; notAfter: Date }[]> {
    const settled = await Promise.allSettled(
      [...this.#leaves].map(async ([key, leaf]) => ({
        certificate: key === DEFAULT_KEY ? "default" : key,
        notAfter: (await leaf).notAfter,
      })),
    );
    return settled.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  }

  /** When the earliest cached leaf becomes due for renewal; schedule a tlsEntries + listener swap for then. */
  async nextRenewalAt(): Promise<Date | undefined> {
    const leaves = await Promise.all(this.#leaves.values());
    const due = leaves.map((leaf) => leaf.notAfter.getTime() - RENEW_BEFORE_DAYS * DAY_MS);
    return due.length === 0 ? undefined : new Date(Math.min(...due));
  }

  /**
   * True when a cached leaf is due: within RENEW_BEFORE_DAYS of expiry, or from the future because the clock went
   * back. The daemon then calls tlsEntries (which reissues exactly those) and swaps its listener.
   */
  async renewalDue(): Promise<boolean> {
    // A leaf still being issued that fails is dropped by #leaf and reported to its own caller, not to this check.
    const settled = await Promise.allSettled(this.#leaves.values());
    return settled.some((result) => result.status === "fulfilled" && !this.#isFresh(result.value));
  }

  async #routeEntries(routes: TlsRoute[], counts: Counts): Promise<TlsEntry[]> {
    const wanted = new Map(routes.map((route) => [routeKey(route), routeNames(route)]));
    for (const [key, leaf] of this.#leaves) {
      if (key === DEFAULT_KEY || wanted.has(key)) continue;
      this.#leaves.delete(key);
      this.#spares.add(key, leaf);
    }
    for (const key of wanted.keys()) {
      const spare = this.#leaves.has(key) ? undefined : this.#spares.take(key);
      if (spare) this.#leaves.set(key, spare);
    }
    const leaves = await Promise.all([...wanted].map(([key, names]) => this.#leaf(key, names, counts)));
    return dedupe(leaves.flatMap((leaf) => entriesOf(leaf)));
  }

  async #defaultEntry(counts: Counts): Promise<TlsEntry> {
    const leaf = await this.#leaf(DEFAULT_KEY, DEFAULT_CERT_NAMES, counts);
    return { serverName: DEFAULT_CERT_NAMES[0]!, cert: leaf.certPem, key: leaf.keyPem };
  }

  async #leaf(key: string, names: string[], counts: Counts): Promise<LeafCertificate> {
    const cached = this.#leaves.get(key);
    if (cached) {
      const leaf = await cached;
      if (this.#isFresh(leaf)) {
        counts.reused++;
        return leaf;
      }
      if (this.#leaves.get(key) !== cached) return this.#leaf(key, names, counts); // renewed by a concurrent call
    }
    const attributes = { "gotunnel.certificate.names": names.join(",") };
    const pending = traced("certificate issue", attributes, () => this.#issue(names, this.#now()));
    this.#leaves.set(key, pending);
    counts.issued++;
    try {
      return await pending;
    } catch (error) {
      // Do not cache a failure: the next call should try again, not replay the same rejection forever.
      if (this.#leaves.get(key) === pending) this.#leaves.delete(key);
      throw error;
    }
  }

  #isFresh(leaf: LeafCertificate): boolean {
    const now = this.#now().getTime();
    // A leaf from the future means the clock was set back past its notBefore: clients would reject it.
    return now >= leaf.notBefore.getTime() && leaf.notAfter.getTime() - now > RENEW_BEFORE_DAYS * DAY_MS;
  }

  async #measure<T>(work: (counts: Counts) => Promise<T>): Promise<T> {
    const started = performance.now();
    const counts = { issued: 0, reused: 0 };
    const result = await work(counts);
    this.#lastStats = { ...counts, elapsedMs: performance.now() - started };
    return result;
  }
}

function baseName(route: TlsRoute): string {
  const name = route.name.toLowerCase();
  return route.wildcard && name.startsWith("*.") ? name.slice(2) : name;
}

function routeKey(route: TlsRoute): string {
  return `${route.wildcard ? "*." : ""}${baseName(route)}`;
}

function routeNames(route: TlsRoute): string[] {
  const base = baseName(route);
  return route.wildcard ? [base, `*.${base}`] : [base];
}

function entriesOf(leaf: LeafCertificate): TlsEntry[] {
  return leaf.names.map((serverName) => ({ serverName, cert: leaf.certPem, key: leaf.keyPem }));
}

/** Keeps the first entry per serverName: an exact route and a wildcard route may both cover `foo.local`. */
function dedupe(entries: TlsEntry[]): TlsEntry[] {
  const seen = new Set<string>();
  return entries.filter((entry) => !seen.has(entry.serverName) && seen.add(entry.serverName));
}

/** How often the renewal watcher looks at the clock. Cheap (no I/O), and bounds how late a renewal can be. */
export const RENEWAL_CHECK_INTERVAL_MS = 60_000;
/**
 * A tick whose wall-clock gap exceeds its monotonic gap by this much means the machine slept (or the clock was set):
 * the monotonic clock (performance.now: CLOCK_MONOTONIC on Linux, mach_absolute_time on macOS) stops during suspend.
 */
export const WAKE_JUMP_MS = 30_000;

export type RenewalReason = "timer" | "wake";

export interface RenewalWatchOptions {
  /** Called when a cached leaf is due; renew with tlsEntries and swap the listener. Not re-entered while running. */
  onDue(reason: RenewalReason): void | Promise<void>;
  /** Called on every detected wake, due or not (other services may want to re-announce themselves). */
  onWake?(jumpMs: number): void;
  /** Reports a failed onDue (log it); the next tick tries again. */
  onError(error: unknown): void;
  intervalMs?: number;
  /** Clock and timer seams for tests. */
  wallNow?: () => number;
  monotonicNow?: () => number;
  every?: (intervalMs: number, tick: () => void) => () => void;
}

/**
 * Watches a store for leaves that need renewing. A single long setTimeout until nextRenewalAt would be wrong twice:
 * timers cap at 2^31-1 ms (~24.8 days), and they run on the monotonic clock, so a laptop that slept would wake up
 * serving a certificate that expired while it slept. Short ticks compared against the wall clock avoid both.
 */
export function watchRenewal(
  store: CertificateStore,
  options: RenewalWatchOptions,
): { stop(): void; check(): Promise<void> } {
  const wallNow = options.wallNow ?? Date.now;
  const monotonicNow = options.monotonicNow ?? (() => performance.now());
  let lastWall = wallNow();
  let lastMonotonic = monotonicNow();
  let running = false;
  const tick = async () => {
    const wall = wallNow();
    const monotonic = monotonicNow();
    const jumpMs = wall - lastWall - (monotonic - lastMonotonic);
    [lastWall, lastMonotonic] = [wall, monotonic];
    const woke = Math.abs(jumpMs) > WAKE_JUMP_MS;
    if (woke) options.onWake?.(jumpMs);
    if (running) return;
    running = true;
    try {
      if (await store.renewalDue()) await options.onDue(woke ? "wake" : "timer");
    } catch (error) {
      options.onError(error);
    } finally {
      running = false;
    }
  };
  const every = options.every ?? defaultEvery;
  const stop = every(options.intervalMs ?? RENEWAL_CHECK_INTERVAL_MS, () => void tick());
  // check(): the same tick on demand, e.g. when the OS reports a resume, or from a test.
  return { stop, check: tick };
}

function defaultEvery(intervalMs: number, tick: () => void): () => void {
  const timer = setInterval(tick, intervalMs);
  timer.unref(); // the watcher alone must not keep a process alive
  return () => clearInterval(timer);
}
