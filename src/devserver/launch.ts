/**
 * From a config's routes to dev servers to start: for each route with a `command`, the launch plan (plan.ts) with
 * a free port, package.json from the command's directory, and the environment; and the route as the daemon will
 * serve it (its real port, and the framework's rewriteOrigin unless the config set one).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_WAIT_TIMEOUT_MS } from "../config/dev-server.ts";
import { portTarget } from "../config/domain.ts";
import type { ResolvedRoute } from "../config/schema.ts";
import type { PackageJson } from "./command.ts";
import { planLaunch } from "./plan.ts";
import { freePort } from "./ports.ts";
import type { DevServerSpec } from "./servers.ts";

export interface DevLaunchOptions {
  /** gotunnel's own environment, which every command inherits. */
  env: Record<string, string | undefined>;
  /** `--wait-timeout`: for routes whose config sets no waitTimeout. */
  waitTimeoutMs?: number;
  /** Ask the commands for coloured output (FORCE_COLOR) because it goes to a terminal. */
  color: boolean;
}

export interface DevLaunch {
  /** Every route, the dev ones with their real target. */
  routes: ResolvedRoute[];
  specs: DevServerSpec[];
}

export function prepareDevServers(routes: readonly ResolvedRoute[], options: DevLaunchOptions): DevLaunch {
  const specs: DevServerSpec[] = [];
  const served = routes.map((route) => {
    const dev = route.dev;
    if (!dev) return route;
    const baseEnv = { ...options.env, ...colorEnv(options), ...dev.env };
    const plan = planLaunch({
      name: route.name,
      command: dev.command,
      ...(dev.port === undefined ? {} : { port: dev.port }),
      freePort: dev.port === undefined ? freePort() : dev.port,
      pkg: readPackageJson(dev.cwd),
      baseEnv,
    });
    specs.push({
      name: route.name,
      plan,
      cwd: dev.cwd,
      env: { ...baseEnv, ...plan.env },
      waitTimeoutMs: dev.waitTimeoutMs ?? options.waitTimeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS,
    });
    const target = route.target.port === plan.port ? route.target : portTarget(plan.port);
    const rewriteOrigin = route.rewriteOrigin ?? plan.rewriteOrigin;
    return { ...route, target, ...(rewriteOrigin === undefined ? {} : { rewriteOrigin: [...rewriteOrigin] }) };
  });
  return { routes: served, specs };
}

/** Colour for a terminal, unless the user's environment already decides (NO_COLOR, FORCE_COLOR). */
function colorEnv(options: DevLaunchOptions): Record<string, string> {
  if (!options.color || options.env.NO_COLOR !== undefined || options.env.FORCE_COLOR !== undefined) return {};
  return { FORCE_COLOR: "1" };
}

/**
 * The command directory's package.json, for its scripts and dependencies. One that is missing or unreadable
 * means "no scripts to follow": a broken one is the package manager's to report, in the command's own output.
 */
function readPackageJson(dir: string): PackageJson | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, "package.json"), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null ? (value as PackageJson) : undefined;
  } catch {
    return undefined; // Not JSON: npm says so itself when the command runs (see the comment above).
  }
}
