/**
 * The balancers of the routes with several backends, kept across route changes: a change that leaves a route's
 * backends and policy as they were keeps its balancer, so a backend marked down stays down and the counters go on.
 * Each balancer of a route with `health` runs its active check here, through the healthCheck the proxy was given.
 */
import { balancedUpstream } from "./balanced-upstream.ts";
import { type BackendState, type BackendTarget, Balancer, balancerKey } from "./balancer.ts";
import type { Upstream } from "./forward.ts";
import type { ProxyRoute } from "./router.ts";

/** GET `path` on `target`: undefined when it answered healthy, otherwise why not ("answered 503", "refused"). */
export type HealthCheck = (target: BackendTarget, path: string) => Promise<string | undefined>;

interface Entry {
  balancer: Balancer;
  upstream: Upstream;
  /** The health settings the timer runs with (part of what must match for the entry to be kept). */
  health: string;
  timer: ReturnType<typeof setInterval> | undefined;
}

/** Each route with several backends and its backends' states, for `list` and `/metrics`. */
export interface RouteBackends {
  route: string;
  backends: BackendState[];
}

export class Balancers {
  private entries = new Map<string, Entry>();

  constructor(
    private readonly upstream: Upstream,
    private readonly healthCheck: HealthCheck | undefined,
  ) {}

  /** The balancer of `route`, when it has several backends (hot path: one map lookup, only for those routes). */
  get(route: ProxyRoute): Entry | undefined {
    return route.targets === undefined ? undefined : this.entries.get(route.name);
  }

  /** Adopts a new route set: keeps matching balancers, makes new ones, stops the checks of the others. */
  sync(routes: readonly ProxyRoute[]): void {
    const next = new Map<string, Entry>();
    for (const route of routes) {
      if (route.targets === undefined || route.targets.length < 2) continue;
      const policy = route.policy ?? "round_robin";
      const health = route.health ? `${route.health.intervalMs} ${route.health.path}` : "";
      const kept = this.entries.get(route.name);
      if (kept && kept.balancer.key === balancerKey(route.targets, policy) && kept.health === health) {
        next.set(route.name, kept);
        this.entries.delete(route.name);
        continue;
      }
      const balancer = new Balancer(route.targets, policy);
      const entry: Entry = { balancer, upstream: balancedUpstream(balancer, this.upstream), health, timer: undefined };
      if (route.health && this.healthCheck) entry.timer = this.watch(balancer, route.health, this.healthCheck);
      next.set(route.name, entry);
    }
    this.stop();
    this.entries = next;
  }

  states(): RouteBackends[] {
    return [...this.entries].map(([route, entry]) => ({ route, backends: entry.balancer.states() }));
  }

  /** Stops every active check (the proxy is stopping, or sync replaced them). */
  stop(): void {
    for (const entry of this.entries.values()) if (entry.timer) clearInterval(entry.timer);
    this.entries.clear();
  }

  /** Checks every backend now and then every `intervalMs`; a round still running when the next is due is skipped. */
  private watch(balancer: Balancer, health: { path: string; intervalMs: number }, check: HealthCheck) {
    let running = false;
    const round = async () => {
      if (running) return;
      running = true;
      try {
        await Promise.all(
          balancer.backends.map(async (backend) => {
            const problem = await check(backend.target, health.path).catch((error: unknown) => String(error));
            balancer.healthChecked(backend, problem);
          }),
        );
      } finally {
        running = false;
      }
    };
    void round();
    const timer = setInterval(round, health.intervalMs);
    // The checks alone must not keep a process alive.
    timer.unref();
    return timer;
  }
}
