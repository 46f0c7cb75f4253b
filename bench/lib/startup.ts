/**
 * Start-up time (issue 18): from spawning a server to the first 200 through it, polled every few milliseconds.
 *
 * - `gotunnel up --config` (the throughput target's 5 routes), no daemon running: the command starts the daemon (its
 *   CA exists; certificates are issued) and the route answers. The daemon is stopped after each sample.
 * - `gotunnel start`, a daemon running: a new route answers (its certificate issued, the listeners swapped).
 * - Caddy `reverse-proxy --from https://bench.local:PORT --internal-certs`: Caddy issues its certificate from its own
 *   CA. Its first start makes that CA and installs it in the system trust store (Caddy 2.6 has no flag against it),
 *   so it runs only inside the bench's private namespaces, where the trust store is a private copy; that first start
 *   is not measured, as gotunnel's CA is made before too.
 * - portless: `proxy start` then `alias`, run as two commands as a user would.
 * - bun-floor: bun starting the smallest Bun.serve proxy with a certificate made before: the floor for a Bun server.
 * - bun-floor certificates: a fresh compiled program issuing the leaves `up` issues, with the same library
 *   (floors.ts): the floor of the certificate work in `up` → first 200.
 */
import { join } from "node:path";
import { bunFloorCommand } from "./bun-floor.ts";
import { gotunnelCommand, HTTPS_HOST } from "./certs.ts";
import { pinned } from "./cpu.ts";
import { FLOOR_LEAVES, measureCertificateFloor } from "./floors.ts";
import { writeConfig } from "./gotunnel.ts";
import { isInside } from "./isolate.ts";
import { portlessAlias, portlessCommands, portlessEnv, portlessStart } from "./portless.ts";
import { type EnvPatch, freePort, type Managed, run, sleep, spawnManaged, stopManaged, waitForPorts } from "./proc.ts";
import type { BenchContext } from "./target.ts";

const POLL_MS = 5;
const FIRST_OK_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
/** Between `start` samples: a user runs `start`, then opens the page; nobody loads the previous name meanwhile. */
const BETWEEN_STARTS_MS = 500;

export interface StartupFigure {
  /** What was timed, for the report. */
  label: string;
  /** Every sample, milliseconds, in run order. */
  samplesMs: number[];
  skipped?: string;
}

/** Polls until one GET through the proxy answers 200; returns when, or throws after the timeout. */
async function firstOk(port: number, host: string, serverName?: string): Promise<void> {
  const deadline = performance.now() + FIRST_OK_TIMEOUT_MS;
  while (performance.now() < deadline) {
    try {
      const response = await fetch(`https://127.0.0.1:${port}/1k`, {
        headers: { host },
        tls: { rejectUnauthorized: false, ...(serverName ? { serverName } : {}) },
        signal: AbortSignal.timeout(1000),
      });
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // Not listening yet, or the route is not there yet: poll again.
    }
    await sleep(POLL_MS);
  }
  throw new Error(`no 200 from ${host} on ${port} within ${FIRST_OK_TIMEOUT_MS} ms`);
}

async function timed(start: () => Promise<Managed | undefined> | Managed | undefined, wait: () => Promise<void>) {
  const began = performance.now();
  const managed = await start();
  await wait();
  return { ms: performance.now() - began, managed };
}

function gotunnelEnv(context: BenchContext): EnvPatch {
  // The bench's home: its CA was made by prepareCerts (`gotunnel ca`), as a user's is after the first run.
  return { ...context.gotunnelEnv, GOTUNNEL_HOME: join(context.dir, "startup-home") };
}

async function stopDaemon(context: BenchContext, env: EnvPatch): Promise<void> {
  await run(gotunnelCommand(context.options.binary, ["daemon", "stop"]), STOP_TIMEOUT_MS, env);
}

async function gotunnelUp(context: BenchContext, runs: number): Promise<number[]> {
  const env = gotunnelEnv(context);
  const samples: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const [http, https] = [freePort(), freePort()];
    // The throughput target's config: 5 routes, 4 of them with certificates.
    const args = ["up", "--config", writeConfig(context), "--proxy-http-port", String(http)];
    args.push("--proxy-https-port", String(https));
    const { ms, managed } = await timed(
      () =>
        spawnManaged("gotunnel-up", pinned(context.cpus, "server", gotunnelCommand(context.options.binary, args)), {
          cwd: context.dir,
          env,
          logPath: join(context.dir, "startup-up.log"),
        }),
      () => firstOk(https, HTTPS_HOST),
    );
    if (managed) await stopManaged(managed);
    await stopDaemon(context, env);
    if (i > 0) samples.push(ms); // the first run creates this home's CA: not what a user waits for each day
  }
  return samples;
}

async function gotunnelStart(context: BenchContext, runs: number): Promise<number[]> {
  const env = gotunnelEnv(context);
  const [http, https] = [freePort(), freePort()];
  const ports = ["--proxy-http-port", String(http), "--proxy-https-port", String(https)];
  const samples: number[] = [];
  try {
    for (let i = 0; i <= runs; i++) {
      const name = `startup-${i}.local`;
      await sleep(BETWEEN_STARTS_MS);
      const args = ["start", "-d", name, "-p", String(context.upstreamPort), ...ports];
      const command = pinned(context.cpus, "server", gotunnelCommand(context.options.binary, args));
      const { ms } = await timed(
        async () => void (await run(command, FIRST_OK_TIMEOUT_MS, env)),
        () => firstOk(https, name),
      );
      if (i > 0) samples.push(ms); // the first `start` starts the daemon
    }
  } finally {
    await stopDaemon(context, env);
  }
  return samples;
}

async function caddyReverseProxy(context: BenchContext, runs: number): Promise<number[]> {
  const home = join(context.dir, "caddy-startup-home");
  const env = { HOME: home, XDG_DATA_HOME: join(home, "data"), XDG_CONFIG_HOME: join(home, "config") };
  const samples: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const port = freePort();
    const from = `https://${HTTPS_HOST}:${port}`;
    const args = ["caddy", "reverse-proxy", "--from", from, "--to", `127.0.0.1:${context.upstreamPort}`];
    const { ms, managed } = await timed(
      () =>
        spawnManaged("caddy-reverse-proxy", pinned(context.cpus, "server", [...args, "--internal-certs"]), {
          env,
          logPath: join(context.dir, "startup-caddy.log"),
        }),
      () => firstOk(port, HTTPS_HOST, HTTPS_HOST),
    );
    if (managed) await stopManaged(managed);
    if (i > 0) samples.push(ms); // the first run makes Caddy's CA and installs it
  }
  return samples;
}

async function portless(context: BenchContext, runs: number): Promise<number[]> {
  const { node, cli } = portlessCommands();
  const samples: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const dir = join(context.dir, "portless-startup");
    const env = portlessEnv(dir);
    const port = freePort();
    let managed: Managed | undefined;
    const { ms } = await timed(
      () => {
        managed = spawnManaged("portless-startup", pinned(context.cpus, "server", portlessStart(node, cli, port)), {
          env,
          logPath: join(dir, "startup.log"),
        });
        return managed;
      },
      async () => {
        // `portless proxy start` without --foreground returns once it listens; the alias comes after, as a user's would.
        await waitForPorts(managed as Managed, [port], FIRST_OK_TIMEOUT_MS);
        await portlessAlias(context, env, "bench");
        await firstOk(port, HTTPS_HOST);
      },
    );
    if (managed) await stopManaged(managed);
    if (i > 0) samples.push(ms); // the first run makes its CA
  }
  return samples;
}

/**
 * The floor: bun starting the smallest Bun.serve proxy (bun-floor.ts) with a certificate made before, nothing issued,
 * no daemon, no CLI. What any Bun server pays from spawn to its first 200.
 */
async function bunFloor(context: BenchContext, runs: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const [https, http] = [freePort(), freePort()];
    const { ms, managed } = await timed(
      () =>
        spawnManaged("bun-floor-startup", bunFloorCommand(context, https, http), {
          logPath: join(context.dir, "startup-bun-floor.log"),
        }),
      () => firstOk(https, HTTPS_HOST),
    );
    if (managed) await stopManaged(managed);
    if (i > 0) samples.push(ms); // the first run warms the page cache for bun itself, as for the others
  }
  return samples;
}

/** Each target's start-up, `runs` samples after one unmeasured start; a target that cannot run says why. */
export async function measureStartup(
  context: BenchContext,
  runs: number,
  progress: (line: string) => void,
): Promise<StartupFigure[]> {
  const { only } = context.options;
  const plans: [label: string, wanted: boolean, measure: () => Promise<number[]>, skip?: string][] = [
    ["gotunnel up, no daemon running → first 200", only.includes("gotunnel"), () => gotunnelUp(context, runs)],
    ["gotunnel start, daemon running → first 200", only.includes("gotunnel"), () => gotunnelStart(context, runs)],
    [
      "caddy reverse-proxy --internal-certs → first 200",
      only.includes("caddy") && !!Bun.which("caddy"),
      () => caddyReverseProxy(context, runs),
      isInside() ? undefined : "runs only inside the private namespaces (it installs its CA in the trust store)",
    ],
    ["portless proxy start + alias → first 200", only.includes("portless"), () => portless(context, runs)],
    [
      "bun-floor: bun starts the smallest Bun.serve proxy → first 200",
      only.includes("bun-floor"),
      () => bunFloor(context, runs),
    ],
    [
      `bun-floor: a fresh compiled program issues up's ${FLOOR_LEAVES.length} leaves with @peculiar/x509 → exit`,
      only.includes("bun-floor"),
      () => measureCertificateFloor(context, runs),
    ],
  ];
  const figures: StartupFigure[] = [];
  for (const [label, wanted, measure, skip] of plans) {
    if (!wanted) continue;
    if (skip) {
      figures.push({ label, samplesMs: [], skipped: skip });
      continue;
    }
    try {
      const samplesMs = await measure();
      figures.push({ label, samplesMs });
      progress(`start-up, ${label}: ${samplesMs.map((ms) => ms.toFixed(0)).join(", ")} ms`);
    } catch (error) {
      figures.push({ label, samplesMs: [], skipped: (error as Error).message });
      progress(`start-up, ${label}: failed (${(error as Error).message})`);
    }
  }
  return figures;
}
