/**
 * `gotunnel run -- <command>` for CI: serve the project's routes from THIS process with an ephemeral CA in a temp dir,
 * touching neither trust stores nor the hosts file nor a running daemon; wait until every upstream answers; run the
 * command with the URLs, the CA bundle variables and the hooks that make Node, Bun, Python and curl resolve the route
 * names (ci/resolve.ts); tear everything down on any exit (the command's, a failure, a signal) and return the
 * command's exit code.
 */
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ResolvedConfig, ResolvedRoute } from "../config/load.ts";
import { GotunnelError } from "../core/errors.ts";
import { invokingOwner } from "../platform/owner.ts";
import type { Paths } from "../platform/paths.ts";
import { runtimeTrustEnv, writeCaBundle } from "../tls/bundle.ts";
import { connectAddress, routeNames } from "./ci/names.ts";
import { type NameResolution, prepareNameResolution } from "./ci/resolve.ts";
import { type Gateway, startGateway } from "./gateway.ts";

const UPSTREAM_POLL_MS = 250;
const UPSTREAM_PROBE_TIMEOUT_MS = 2_000;
/** Signals are forwarded to the command; a second one while it still runs kills it. */
const FORWARDED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

export interface CiRunOptions {
  config: ResolvedConfig;
  command: string[];
  waitTimeoutMs: number;
  /** Proxy ports set explicitly (flag, env or config); others become ephemeral so CI needs no privileges. */
  explicitPorts: { https: boolean; http: boolean };
  onStatus(message: string): void;
  /** The step under way (starting the routes, waiting for an upstream), for progress; undefined when none is. */
  onStep?(label: string | undefined): void;
}

function ephemeralPaths(root: string): Paths {
  return {
    dataDir: root,
    caDir: join(root, "ca"),
    configDir: join(root, "config"),
    stateDir: join(root, "state"),
    runtimeDir: join(root, "run"),
  };
}

/**
 * Signals during the whole run: before the command starts they stop the run (after teardown); while it runs they are
 * forwarded to it, and a second one kills it.
 */
class Interrupts {
  received: NodeJS.Signals | undefined;
  child: Bun.Subprocess | undefined;
  private count = 0;
  private readonly handler = (signal: NodeJS.Signals) => {
    this.count++;
    this.received ??= signal;
    this.child?.kill(this.count > 1 ? "SIGKILL" : signal);
  };
  constructor() {
    for (const signal of FORWARDED_SIGNALS) process.on(signal, this.handler);
  }
  /** Throws when a signal arrived before the command started: the caller's finally tears down. */
  check(): void {
    if (this.received) throw new Interrupted(this.received);
  }
  dispose(): void {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, this.handler);
  }
}

class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

/**
 * The run's own temp dir (0700, a name nobody can guess). Under sudo it is handed to the invoking user like every
 * directory gotunnel writes in for them (platform/safe-fs.ts refuses one that is not theirs): it holds nothing else.
 */
function runDir(): string {
  const root = mkdtempSync(join(tmpdir(), "gotunnel-run-"));
  const owner = invokingOwner();
  if (owner) chownSync(root, owner.uid, owner.gid);
  return root;
}

export async function ciRun(options: CiRunOptions): Promise<number> {
  const root = runDir();
  const interrupts = new Interrupts();
  let gateway: Gateway | undefined;
  let names: NameResolution | undefined;
  try {
    const { proxy } = options.config;
    options.onStep?.("starting the routes with a temporary CA");
    gateway = await startGateway({
      proxy: {
        ...proxy,
        httpsPort: options.explicitPorts.https ? proxy.httpsPort : 0,
        httpPort: options.explicitPorts.http ? proxy.httpPort : 0,
      },
      routes: options.config.routes,
      paths: ephemeralPaths(root),
    });
    const served = gateway;
    for (const route of options.config.routes) options.onStatus(`${served.urlOf(route)} → ${route.target.origin}`);
    await waitForUpstreams(options.config.routes, options.waitTimeoutMs, options, interrupts);
    options.onStep?.("preparing name resolution for the command");
    const bundle = await writeCaBundle({ caPem: served.ca.certPem, dataDir: root });
    names = await prepareNameResolution({
      root,
      names: routeNames(options.config.routes),
      address: connectAddress(options.config.proxy.host),
      ports: [served.ports.https, served.ports.http].filter((port) => port > 0),
      env: process.env,
    });
    const env = {
      ...process.env,
      ...Object.fromEntries(runtimeTrustEnv(served.ca.certPath, bundle.path)),
      ...routeEnv(options.config, served),
      ...names.env,
    };
    interrupts.check();
    options.onStep?.(undefined);
    options.onStatus(`running: ${options.command.join(" ")}`);
    return await runCommand(options.command, env, interrupts);
  } catch (error) {
    if (error instanceof Interrupted) return 128 + (SIGNAL_NUMBERS[error.signal] ?? 1);
    throw error;
  } finally {
    interrupts.dispose();
    await names?.stop();
    await gateway?.stop(true);
    rmSync(root, { recursive: true, force: true });
  }
}

/** `myapp.local` → `MYAPP_LOCAL`; `*.app.local` → `APP_LOCAL`. */
export function envName(route: { name: string }): string {
  return route.name
    .replace(/^\*\./, "")
    .toUpperCase()
    .replace(/[^A-Z0-9]/g, "_");
}

/**
 * GOTUNNEL_URL_<NAME> for each route, and two ways to reach the names for clients without a hook (ci/resolve.ts):
 * curl's `--resolve` arguments (`curl -q` reads no .curlrc) and Chromium's `--host-resolver-rules` value.
 */
export function routeEnv(config: ResolvedConfig, gateway: Pick<Gateway, "urlOf" | "ports">): Record<string, string> {
  const address = connectAddress(config.proxy.host);
  const env: Record<string, string> = {};
  const resolves: string[] = [];
  const rules: string[] = [];
  for (const route of config.routes) {
    const url = gateway.urlOf(route);
    env[`GOTUNNEL_URL_${envName(route)}`] = url;
    const host = route.name.replace(/^\*\./, "");
    const port = route.https ? gateway.ports.https : gateway.ports.http;
    resolves.push(`--resolve ${host}:${port}:${address}`);
    rules.push(`MAP ${host} ${address}`);
  }
  env.GOTUNNEL_CURL_RESOLVE = resolves.join(" ");
  env.GOTUNNEL_HOST_RESOLVER_RULES = rules.join(", ");
  return env;
}

async function answers(route: ResolvedRoute): Promise<boolean> {
  try {
    // Any HTTP answer counts: a dev server that says 404 on `/` is up.
    await fetch(`${route.target.origin}/`, {
      redirect: "manual",
      signal: AbortSignal.timeout(UPSTREAM_PROBE_TIMEOUT_MS),
      tls: { rejectUnauthorized: false },
    });
    return true;
  } catch {
    return false; // Not listening yet (or not answering in time): poll again until the deadline.
  }
}

async function waitForUpstreams(
  routes: ResolvedRoute[],
  timeoutMs: number,
  { onStatus, onStep }: Pick<CiRunOptions, "onStatus" | "onStep">,
  interrupts: Interrupts,
) {
  const deadline = Date.now() + timeoutMs;
  for (const route of routes) {
    onStep?.(`waiting for ${route.target.origin} (${route.name}) to answer`);
    let announced = false;
    while (!(await answers(route))) {
      interrupts.check();
      if (Date.now() > deadline) {
        throw new GotunnelError(
          "E_UPSTREAM",
          `${route.name}: ${route.target.origin} did not answer within ${timeoutMs / 1000} s`,
          {
            hint: "start the dev server before `gotunnel run` (or in the background), or raise --wait-timeout",
            details: { route: route.name, target: route.target.origin },
          },
        );
      }
      if (!announced) onStatus(`waiting for ${route.target.origin} (${route.name})…`);
      announced = true;
      await Bun.sleep(UPSTREAM_POLL_MS);
    }
  }
}

async function runCommand(command: string[], env: Record<string, string | undefined>, interrupts: Interrupts) {
  let child: Bun.Subprocess;
  try {
    child = Bun.spawn(command, { env, stdin: "inherit", stdout: "inherit", stderr: "inherit" });
  } catch (error) {
    throw new GotunnelError("E_USAGE", `cannot run ${JSON.stringify(command[0])}: ${(error as Error).message}`, {
      hint: "check the command after `--` (it runs without a shell: use `-- sh -c '…'` for pipes and variables)",
      cause: error,
    });
  }
  interrupts.child = child;
  const code = await child.exited;
  return child.signalCode ? 128 + (SIGNAL_NUMBERS[child.signalCode] ?? 1) : code;
}
