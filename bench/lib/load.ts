/**
 * One load run for a cell, whatever its client: wrk for HTTP and HTTPS (HTTP/1.1, no ALPN), h2load for h2 and for
 * the keep-alive c=1 cells (`--h1`: wrk's latencies at one connection are not true, h2load.ts says why). The matrix
 * (runner.ts) and --pairs (paired.ts) both go through here, so every cell is measured the same way.
 */
import { clientPlan } from "./cpu.ts";
import { runH2load } from "./h2load.ts";
import { type Cell, schemeOf } from "./matrix.ts";
import { type BenchContext, baseUrl, type RunningTarget } from "./target.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

export interface LoadSpec {
  context: BenchContext;
  target: RunningTarget;
  cell: Cell;
  /** The wrk Lua script that reports wrk's summary (wrk.ts writeWrkScript). */
  script: string;
}

export function runLoad(spec: LoadSpec, durationS: number): Promise<WrkResult> {
  const { context, target, cell } = spec;
  const endpoint = target.endpoints[schemeOf(cell.proto)];
  const cpus = clientPlan(context.cpus, cell.load.connections);
  const threads = context.options.threads;
  const connections = cell.load.connections;
  if (cell.proto === "h2" || (connections === 1 && !cell.load.close)) {
    const url = `${schemeOf(cell.proto)}://${endpoint.host}/${cell.size}`;
    const streams = cell.load.streams ?? 1;
    const h1 = cell.proto !== "h2";
    return runH2load({
      url,
      port: endpoint.port,
      connections,
      streams,
      threads,
      cpus,
      durationS,
      dir: context.dir,
      h1,
    });
  }
  const url = `${baseUrl(schemeOf(cell.proto), endpoint)}/${cell.size}`;
  return runWrk(
    { url, host: endpoint.host, connections, threads, cpus, close: cell.load.close, durationS },
    spec.script,
  );
}
