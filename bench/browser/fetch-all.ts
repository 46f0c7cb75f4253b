/**
 * The same app without a browser: h2load fetches every module from the same place the browser does (the far
 * namespace included), as fast as the server delivers them. On this 2-core VM the far browser is bound by its own
 * CPU (its TCP receive window sits at zero hundreds of times a load, CONTRIBUTING.md), so its load times rank how
 * each server's bytes suit a starved browser; these times show what the proxy itself delivers across the same link.
 *
 * HTTPS targets get one connection with FETCH_STREAMS streams in flight, as a browser's h2 connection would carry a
 * module tree's wide levels; `direct` gets DIRECT_CONNECTIONS HTTP/1.1 connections, a browser's limit per origin.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { NoiseMeter } from "../lib/noise.ts";
import { run } from "../lib/proc.ts";
import { modulePath } from "./app.ts";
import type { Sample } from "./stats.ts";
import type { BrowserTarget } from "./target.ts";

export const FETCH_STREAMS = 200;
export const DIRECT_CONNECTIONS = 6;
const FETCH_TIMEOUT_MS = 60_000;

export interface FetchRig {
  /** Where the servers are reached from the fetching side. */
  address: string;
  /** argv prefix that runs h2load where the browser runs (the far namespace, the client CPU). */
  prefix: string[];
}

/** Writes every module URL of `target`, dealt round-robin into `parts` lists (h2load's `-i` files). */
function urlLists(dir: string, target: BrowserTarget, address: string, modules: number, parts: number): string[] {
  const base = target.url(address).replace(/\/$/, "");
  const lists: string[][] = Array.from({ length: parts }, () => []);
  for (let index = 0; index < modules; index++) lists[index % parts]?.push(`${base}/${modulePath(index)}`);
  return lists.map((urls, part) => {
    const path = join(dir, `fetch-${target.name}-${address}-${part}.txt`);
    writeFileSync(path, `${urls.join("\n")}\n`);
    return path;
  });
}

interface H2loadRun {
  ms: number;
  protocol: string;
  ok: number;
}

/** h2load prints its run's length in the unit that suits it. */
const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };

/** h2load's "finished in 452.57ms, 3314.38 req/s", "status codes: 1500 2xx" and "Application protocol: h2". */
function parseRun(stdout: string): H2loadRun | null {
  const finished = /finished in ([\d.]+)(us|ms|s),/.exec(stdout);
  const ok = /status codes: (\d+) 2xx/.exec(stdout);
  if (!finished?.[1] || !ok?.[1]) return null;
  const ms = Number(finished[1]) * (UNIT_MS[finished[2] ?? "ms"] ?? 1);
  return { ms, protocol: /Application protocol: (\S+)/.exec(stdout)?.[1] ?? "?", ok: Number(ok[1]) };
}

/**
 * One fetch of every module, as a Sample like a browser load's (stats.ts). h2load's clients all walk the same `-i`
 * list from its start, so `direct`'s connections are separate h2load runs, started together, each with its share of
 * the modules; the fetch took as long as the slowest.
 */
export async function fetchAll(
  rig: FetchRig,
  target: BrowserTarget,
  modules: number,
  dir: string,
  round: number,
): Promise<Sample> {
  const port = new URL(target.url(rig.address)).port;
  const h1 = target.caPath === null;
  const lists = urlLists(dir, target, rig.address, modules, h1 ? DIRECT_CONNECTIONS : 1);
  const shape = h1 ? ["--h1", "-c1", "-m1"] : ["-c1", `-m${FETCH_STREAMS}`, `--connect-to=${rig.address}:${port}`];
  const meter = new NoiseMeter();
  const results = await Promise.all(
    lists.map((list, part) => {
      const count = Math.ceil((modules - part) / lists.length);
      return run([...rig.prefix, "h2load", ...shape, `-n${count}`, "-i", list], FETCH_TIMEOUT_MS);
    }),
  );
  const foreignCpuPercent = meter.stop();
  const runs = results.map((result) => parseRun(result.stdout));
  const ok = runs.reduce((sum, one) => sum + (one?.ok ?? 0), 0);
  if (ok !== modules) {
    const said = results.map((result) => result.stderr.trim()).find((text) => text !== "") ?? "see h2load's output";
    return { round, ms: null, error: `${ok} of ${modules} answers were 2xx: ${said}`, foreignCpuPercent };
  }
  const ms = Math.max(...runs.map((one) => one?.ms ?? 0));
  return { round, ms, foreignCpuPercent, protocols: { [runs[0]?.protocol ?? "?"]: modules } };
}
