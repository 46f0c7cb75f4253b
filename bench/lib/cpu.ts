/**
 * CPU pinning: every server process (upstream and proxy) on one core, wrk on the other.
 *
 * Why: unpinned, the scheduler decides per run whether wrk steals the proxy's core, and on this VM a
 * request/response ping-pong across cores costs ~80 µs of wake-up latency against a few µs on one core, so
 * identical c=1 runs swung 5x with placement. Pinned, the server side of every target gets exactly one core (req/s
 * reads as "requests per second of one server core") and the client never competes with it. c=1 cells put wrk on
 * the server core too: with one request in flight nothing runs in parallel anyway, and latency then measures the
 * proxy's work rather than the hypervisor's cross-core wake-ups.
 */
import { readFileSync } from "node:fs";

export interface CpuPlan {
  client: number;
  server: number;
}

/** "0-1,4" → [0, 1, 4] */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(",")) {
    const [low, high] = part.split("-").map(Number);
    if (low === undefined || Number.isNaN(low)) continue;
    for (let cpu = low; cpu <= (high ?? low); cpu++) cpus.push(cpu);
  }
  return cpus;
}

/** The first two CPUs this process may run on, or null (pinning off, one CPU, or no taskset). */
export function planCpus(enabled: boolean): CpuPlan | null {
  if (!enabled || !Bun.which("taskset")) return null;
  const status = readFileSync("/proc/self/status", "utf8");
  const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1];
  const [client, server] = list ? parseCpuList(list) : [];
  return client === undefined || server === undefined ? null : { client, server };
}

/** Prefixes cmd with taskset when there is a plan; taskset execs, so the pid is the process itself. */
export function pinned(plan: CpuPlan | null, role: keyof CpuPlan, cmd: string[]): string[] {
  return plan ? ["taskset", "-c", String(plan[role]), ...cmd] : cmd;
}

/**
 * Moves this process, every thread of it, to the client CPU: the bench's own work (progress, RSS sampling, the OTLP
 * sink that stands in for gotunnel-otel's collector) is the outside world, like wrk, and must not take the server
 * core's time from the proxy it measures. Unpinned, the scheduler put it on either core, run by run.
 */
export function pinSelf(plan: CpuPlan | null): void {
  if (!plan) return;
  const result = Bun.spawnSync(["taskset", "-a", "-p", "-c", String(plan.client), String(process.pid)]);
  if (result.exitCode !== 0) throw new Error(`taskset could not pin the bench to CPU ${plan.client}: ${result.stderr}`);
}

/** The plan wrk runs under for a given concurrency (see the module comment for c=1). */
export function clientPlan(plan: CpuPlan | null, connections: number): CpuPlan | null {
  return plan && connections === 1 ? { ...plan, client: plan.server } : plan;
}

export function describePlan(plan: CpuPlan | null): string {
  if (!plan) return "not pinned: the scheduler places wrk, the proxy and the upstream on any core";
  return (
    `pinned with taskset: the proxy and the upstream share CPU ${plan.server}; wrk runs on CPU ${plan.client},` +
    ` except for c=1 cells, where it joins them on CPU ${plan.server} (one request in flight: no parallelism to lose);` +
    ` the bench itself, with gotunnel-otel's OTLP sink, runs on CPU ${plan.client}`
  );
}
