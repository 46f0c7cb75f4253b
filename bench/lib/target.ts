/**
 * What the runner needs from anything it measures: where to send HTTP and HTTPS, which Host header routes it,
 * and which process tree to weigh. Each target file (upstream/direct, nginx, caddy, gotunnel) builds one.
 */
import type { BenchCerts } from "./certs.ts";
import type { CpuPlan } from "./cpu.ts";
import type { Scheme } from "./matrix.ts";
import type { BenchOptions, TargetName } from "./options.ts";
import type { EnvPatch } from "./proc.ts";

export interface Endpoint {
  port: number;
  /** Host header the target routes on. */
  host: string;
}

export interface RunningTarget {
  name: TargetName;
  /** h2 cells use the HTTPS endpoint (ALPN). */
  endpoints: Record<Scheme, Endpoint>;
  /** Root of the process tree whose memory is reported; null for direct (no proxy in the path). */
  rssRoot: number | null;
  /**
   * The processes worth weighing one by one, role → pid (gotunnel: its daemon and the `up` client), read again at
   * each sample because a process may start late. Without it, only the tree's sum is reported.
   */
  processes?: () => Record<string, number>;
  /** Version string for the report. */
  version: string;
  /** After the cells: a fairness caveat the report should state, e.g. a cost the peers do not pay. */
  note?: () => string | undefined;
  stop(): Promise<void>;
}

export interface BenchContext {
  options: BenchOptions;
  /** Private temp dir for configs, logs and certificates. */
  dir: string;
  certs: BenchCerts;
  /** Where wrk and the servers run; null when not pinned. */
  cpus: CpuPlan | null;
  upstreamPort: number;
  /** Environment for every gotunnel invocation (temp GOTUNNEL_HOME, temp hosts file, no debug/telemetry). */
  gotunnelEnv: EnvPatch;
}

/** A target that can be started, or the reason it is skipped (e.g. Caddy not installed). */
export type TargetStarter = (context: BenchContext) => Promise<RunningTarget>;

export class SkipTarget extends Error {}

export function baseUrl(scheme: Scheme, endpoint: Endpoint): string {
  return `${scheme}://127.0.0.1:${endpoint.port}`;
}
