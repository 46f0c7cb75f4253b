/**
 * Which events happen, and for which webhooks (a route's own, from the config that added it):
 * - route.up / route.down: a committed change that serves a name (added, or its target changed), or stops serving
 *   one; at start the restored routes come up, at shutdown every route goes down.
 * - upstream.down / upstream.up: nothing in the daemon watches dev servers between requests (`list` and
 *   /health/ready probe on demand), so routes whose webhooks ask for these events get a TCP connect every
 *   UPSTREAM_PROBE_INTERVAL_MS (probe.ts: no request, so nothing in the dev server's log). A route whose upstream is
 *   down at its first probe gets upstream.down; after that, every change of state is an event.
 * - certificate.expiring: the CA within CA_EXPIRY_WARNING_DAYS of its end (leaves renew themselves, tls/store.ts),
 *   told once per webhook and CA, at start, after each route change and every CERTIFICATE_CHECK_INTERVAL_MS.
 */
import { type Webhook, type WebhookEvent, webhookKey } from "../../config/notify.ts";
import { CA_EXPIRY_WARNING_DAYS, caHealth } from "../../tls/expiry.ts";
import { probeTarget } from "../probe.ts";
import type { RouteRecord } from "../state.ts";
import type { Notifier } from "./notifier.ts";
import type { RouteReason, RouteRef } from "./payload.ts";

/** Often enough to notice a dev server that crashed while you look elsewhere; a loopback connect costs microseconds. */
export const UPSTREAM_PROBE_INTERVAL_MS = 5_000;
/** The CA's days left change once a day; twice a day keeps a long-running daemon from missing the threshold long. */
export const CERTIFICATE_CHECK_INTERVAL_MS = 12 * 60 * 60 * 1000;

export interface RouteEventsOptions {
  notifier: Notifier;
  /** The routes served now. */
  served(): readonly RouteRecord[];
  urlOf(route: RouteRecord): string;
  ca: { path: string; notAfter: Date };
  probe?(hostname: string, port: number): Promise<boolean>;
  now?(): Date;
}

function asksFor(route: RouteRecord, events: readonly WebhookEvent[]): boolean {
  return (route.notify ?? []).some((webhook) => webhook.events.some((event) => events.includes(event)));
}

export class RouteEvents {
  /** Route name → its upstream's last state, and the target it was probed at. */
  private readonly upstreams = new Map<string, { up: boolean; target: string }>();
  /** Webhooks told that this CA expires (key: webhook and notAfter), so each hears it once. */
  private readonly told = new Set<string>();
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private probing = false;

  constructor(private readonly options: RouteEventsOptions) {}

  /** Starts the probe and certificate timers; `restored` are the routes served at start (route.up "restored"). */
  start(restored: readonly RouteRecord[]): void {
    for (const route of restored) this.route("route.up", route, "restored");
    this.checkCertificate();
    this.timers.push(setInterval(() => void this.probeUpstreams(), UPSTREAM_PROBE_INTERVAL_MS));
    this.timers.push(setInterval(() => this.checkCertificate(), CERTIFICATE_CHECK_INTERVAL_MS));
    for (const timer of this.timers) timer.unref();
  }

  /** Shutdown: no more probes; every route still served goes down. */
  stop(): void {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    for (const route of this.options.served()) this.route("route.down", route, "daemon-stopped");
  }

  /** A committed change: `before` and `after` are the served routes. */
  routesChanged(before: readonly RouteRecord[], after: readonly RouteRecord[]): void {
    const was = new Map(before.map((route) => [route.name, route]));
    const now = new Set(after.map((route) => route.name));
    for (const route of before) if (!now.has(route.name)) this.route("route.down", route, "removed");
    for (const route of after) {
      const previous = was.get(route.name);
      if (!previous) this.route("route.up", route, "added");
      else if (previous.target.origin !== route.target.origin) this.route("route.up", route, "changed");
    }
    for (const name of this.upstreams.keys()) if (!now.has(name)) this.upstreams.delete(name);
    this.checkCertificate();
  }

  /** One round of upstream probes (exported for tests through the timer's callback). */
  async probeUpstreams(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      const probe = this.options.probe ?? probeTarget;
      const routes = this.options.served().filter((route) => asksFor(route, ["upstream.down", "upstream.up"]));
      await Promise.all(
        routes.map(async (route) => {
          // A route with several backends is up while one of them is (the proxy routes around the others).
          const targets = route.targets ?? [route.target];
          const up = (await Promise.all(targets.map((target) => probe(target.hostname, target.port)))).includes(true);
          const last = this.upstreams.get(route.name);
          const target = route.target.origin;
          this.upstreams.set(route.name, { up, target });
          const changed = last === undefined || last.target !== target ? !up : last.up !== up;
          if (changed)
            this.options.notifier.publish(
              { event: up ? "upstream.up" : "upstream.down", route: this.ref(route) },
              route.notify ?? [],
            );
        }),
      );
    } finally {
      this.probing = false;
    }
  }

  private checkCertificate(): void {
    const { ca } = this.options;
    const now = this.options.now?.() ?? new Date();
    const { daysLeft } = caHealth(ca, now);
    if (daysLeft >= CA_EXPIRY_WARNING_DAYS) return;
    const webhooks = new Map<string, Webhook>();
    for (const route of this.options.served()) {
      for (const webhook of route.notify ?? []) {
        const key = `${webhookKey(webhook)}\n${ca.notAfter.toISOString()}`;
        if (webhook.events.includes("certificate.expiring") && !this.told.has(key)) webhooks.set(key, webhook);
      }
    }
    if (webhooks.size === 0) return;
    for (const key of webhooks.keys()) this.told.add(key);
    const certificate = { name: "ca" as const, path: ca.path, notAfter: ca.notAfter.toISOString(), daysLeft };
    this.options.notifier.publish({ event: "certificate.expiring", certificate }, [...webhooks.values()], now);
  }

  private route(event: "route.up" | "route.down", route: RouteRecord, reason: RouteReason): void {
    this.options.notifier.publish({ event, route: this.ref(route), reason }, route.notify ?? []);
  }

  private ref(route: RouteRecord): RouteRef {
    return { name: route.name, url: this.options.urlOf(route), target: route.target.origin };
  }
}
