/**
 * What kind of project a directory holds, for `gotunnel init`: the framework (from package.json's dependencies, the
 * same table `up` uses, src/frameworks; else a Django manage.py or a Rails bin/rails), the command that starts its
 * dev server (the package.json script when there is one, through the package manager its lockfile names), and a
 * route name from the directory's name.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { checkDomain, MAX_LABEL_CHARS } from "../config/domain.ts";
import { GotunnelError } from "../core/errors.ts";
import { FRAMEWORKS, type Framework, frameworkOfDependencies } from "../frameworks/index.ts";

/** Scripts that start a dev server, in the order they are preferred. */
const DEV_SCRIPTS = ["dev", "start", "serve"] as const;
/** Lockfile → the package manager that made it; npm when there is none. */
const LOCKFILES: [string, string][] = [
  ["pnpm-lock.yaml", "pnpm"],
  ["yarn.lock", "yarn"],
  ["bun.lock", "bun"],
  ["bun.lockb", "bun"],
];
const FALLBACK_LABEL = "myapp";

export interface DetectedProject {
  /** The route's name, e.g. `shop.local`. */
  name: string;
  framework?: Pick<Framework, "id" | "label">;
  /** What told us: `"vite" in package.json`, `manage.py`. */
  evidence?: string;
  /** The dev server's command; absent for a project gotunnel cannot start (the route then names a port). */
  command?: string;
}

interface PackageJson {
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

export function detectProject(dir: string, name?: string): DetectedProject {
  const route = { name: routeName(name ?? basename(dir), name !== undefined) };
  const pkg = readPackageJson(join(dir, "package.json"));
  if (pkg) return { ...route, ...fromPackageJson(dir, pkg) };
  if (existsSync(join(dir, "manage.py"))) return { ...route, ...known("django", "manage.py") };
  if (existsSync(join(dir, "bin", "rails"))) return { ...route, ...known("rails", "bin/rails") };
  return route;
}

function known(id: Framework["id"], evidence: string): Omit<DetectedProject, "name"> {
  const framework = FRAMEWORKS.find((item) => item.id === id) as Framework;
  return { framework: { id, label: framework.label }, evidence, command: framework.devCommand };
}

function fromPackageJson(dir: string, pkg: PackageJson): Omit<DetectedProject, "name"> {
  const deps = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})]);
  const framework = frameworkOfDependencies(deps);
  const matched = framework?.dependencies.find((dependency) => deps.has(dependency));
  const found = framework
    ? { framework: { id: framework.id, label: framework.label }, evidence: `"${matched}" in package.json` }
    : {};
  const script = DEV_SCRIPTS.find((candidate) => typeof pkg.scripts?.[candidate] === "string");
  if (script) return { ...found, command: `${packageManager(dir)} run ${script}` };
  return framework ? { ...found, command: framework.devCommand } : found;
}

function packageManager(dir: string): string {
  return LOCKFILES.find(([file]) => existsSync(join(dir, file)))?.[1] ?? "npm";
}

function readPackageJson(file: string): PackageJson | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as PackageJson) : {};
  } catch (error) {
    throw new GotunnelError("E_CONFIG_LOAD", `Could not read ${file}: ${(error as Error).message}`, {
      hint: "fix its JSON syntax (gotunnel init reads its dependencies and scripts), then run `gotunnel init` again",
      cause: error,
    });
  }
}

/**
 * `My Shop_2` → `my-shop-2.local`. A name given with `--name` is checked as typed (a bare name gets `.local`, as
 * everywhere); a directory's name is made into a label, or `myapp` when nothing of it is usable.
 */
function routeName(raw: string, given: boolean): string {
  if (given) {
    const check = checkDomain(raw);
    if (!check.ok) {
      throw new GotunnelError("E_USAGE", `--name ${JSON.stringify(raw)} is not a valid route name: ${check.reason}`, {
        hint: "e.g. `gotunnel init --name shop` (shop.local)",
      });
    }
    return check.value.name;
  }
  const label =
    raw
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, MAX_LABEL_CHARS)
      .replace(/-+$/, "") || FALLBACK_LABEL;
  return `${label}.local`;
}
