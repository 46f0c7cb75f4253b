/**
 * Certificates on demand for names no route serves. Bun.serve picks a certificate from a fixed SNI list and tells
 * nobody about a name it does not know (no SNICallback in Bun 1.4.5: oven-sh/bun#36707 is open), so a browser that
 * opens https://typo.localhost gets the default certificate and a name-mismatch error, and the daemon never hears of
 * it. The proxy hears of such a name only from a request that reaches it: over plain HTTP (the usual first visit of
 * a typed name) or over HTTPS from a client that skipped the check. From then on the name gets its own certificate
 * and gotunnel's 404 page over HTTPS.
 *
 * Bounded: only names inside the CA's scope (the suffixes gotunnel serves), at most NEW_NAMES_PER_MINUTE new ones in
 * any minute (each costs a signature and a listener swap), and the store keeps at most MAX_SPARE_CERTIFICATES
 * (tls/spare.ts), dropping the oldest. And only a request from this machine counts: another device finds a name
 * through our mDNS answers, which cover only routes (a route it had open keeps its certificate as a spare anyway),
 * so a name it asks for that no route ever had is a probe, and each new certificate means a listener swap
 * (keep-alive connections told to close, h2 ones sent GOAWAY).
 */
import { checkDomain } from "../config/domain.ts";
import { isLoopbackAddress } from "../core/local-host.ts";
import { DEFAULT_PERMITTED_SUFFIXES, isPermitted, type NameConstraints } from "../tls/constraints.ts";

/** New names a minute that may get a certificate; the rest are ignored until the window moves on. */
export const NEW_NAMES_PER_MINUTE = 10;
const MINUTE_MS = 60_000;

export interface OnDemandOptions {
  /** The CA's permitted names; undefined (a CA made before constraints): the default suffixes. */
  constraints: NameConstraints | undefined;
  /** A route's or a spare's certificate already covers the name (tls/store.ts covers). */
  covered(name: string): boolean;
  /** Issues a spare certificate for the name. */
  issue(name: string): Promise<void>;
  /** Serves the certificates issued so far (a listener swap). */
  apply(): Promise<void>;
  onError(error: unknown): void;
  /** Monotonic clock seam, in milliseconds. */
  now?: () => number;
}

export interface OnDemand {
  /** A request for `host` (a Host header value) from `clientIp` matched no route. Never throws, never waits. */
  noRoute(host: string, clientIp: string): void;
}

export function onDemandCertificates(options: OnDemandOptions): OnDemand {
  const now = options.now ?? (() => performance.now());
  const limiter = slidingWindow(NEW_NAMES_PER_MINUTE, MINUTE_MS, now);
  const pending = new Set<string>();
  const apply = coalesced(options.apply, options.onError);
  return {
    noRoute(host, clientIp) {
      if (!isLoopbackAddress(clientIp)) return;
      const name = scopedName(host, options.constraints);
      if (!name || pending.has(name) || options.covered(name) || !limiter.take()) return;
      pending.add(name);
      options
        .issue(name)
        .then(apply, options.onError)
        .finally(() => pending.delete(name));
    },
  };
}

/**
 * The host part of a Host value when a certificate may be issued for it: a host name in gotunnel's normal form
 * (config/domain.ts), not an address or a wildcard, under one of the CA's permitted suffixes but not a suffix itself
 * (a certificate for `localhost` or `local` would serve no route). Undefined otherwise.
 */
export function scopedName(host: string, constraints: NameConstraints | undefined): string | undefined {
  const name = hostOnly(host).toLowerCase().replace(/\.$/, "");
  const check = checkDomain(name);
  if (!check.ok || check.value.name !== name || check.value.wildcard) return undefined;
  const suffixes = constraints?.dnsSuffixes.length ? constraints.dnsSuffixes : [...DEFAULT_PERMITTED_SUFFIXES];
  if (suffixes.includes(name)) return undefined;
  return isPermitted(name, { dnsSuffixes: suffixes, ipRanges: [] }) ? name : undefined;
}

/** `name:8443` → `name`; an IPv6 literal keeps its brackets, which no host name has (checkDomain refuses it). */
function hostOnly(host: string): string {
  if (host.startsWith("[")) return host;
  const colon = host.indexOf(":");
  return colon === -1 ? host : host.slice(0, colon);
}

/** take() is true at most `max` times in any `windowMs`. */
export function slidingWindow(max: number, windowMs: number, now: () => number) {
  const taken: number[] = [];
  return {
    take(): boolean {
      const at = now();
      while (taken.length > 0 && (taken[0] ?? 0) <= at - windowMs) taken.shift();
      if (taken.length >= max) return false;
      taken.push(at);
      return true;
    },
  };
}

/** Runs `work` once for any number of calls made while it runs (one more run covers them all). */
function coalesced(work: () => Promise<void>, onError: (error: unknown) => void): () => void {
  let running = false;
  let again = false;
  const loop = async () => {
    running = true;
    try {
      do {
        again = false;
        await work().catch(onError);
      } while (again);
    } finally {
      running = false;
    }
  };
  return () => {
    if (running) again = true;
    else void loop();
  };
}
