/**
 * Reads a route's `command` the way the shell and the package manager will run it, to find the simple command that
 * starts the dev server and how arguments can be added to it. `npm run dev` becomes the `dev` script's last command;
 * `npx vite`, `cross-env X=1 vite` and `python manage.py runserver` become `vite` and `manage.py`. Pure.
 *
 * Package managers differ in how they pass arguments on to a script (checked with npm 10, pnpm 9 and 10, yarn
 * 1.22 and bun 1.4.5): npm needs them after `--` (`npm run dev -- --port 5173`; without it npm reads `--port` as its
 * own config); pnpm 7+ and yarn pass everything after the script name, and pnpm passes a `--` through literally,
 * which Vite's CLI then reads as the end of its options; bun passes them with or without `--`.
 */
import { basename } from "node:path";
import { isAssignment, lastCommandWords, readShellLine } from "./shell-words.ts";

export interface PackageJson {
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

export type Spawn = { argv: string[] } | { shell: string };

export interface Invocation {
  /** How to start the command, before any arguments gotunnel adds. */
  spawn: Spawn;
  /** The simple command that starts the server (basename of its program), when it can be seen. */
  program?: string;
  args: string[];
  /**
   * What goes between the command and arguments meant for `program` (one `--` per npm script level); undefined
   * when arguments cannot reach it (it is not the last command of a shell line or script, or the line has parts
   * gotunnel does not model).
   */
  appendPrefix?: string[];
  /** The package.json scripts the command went through, outermost first. */
  scripts: string[];
}

/** Scripts that run scripts that run…: past this, gotunnel stops reading (and adds no arguments). */
const MAX_SCRIPT_DEPTH = 4;
const MANAGERS = new Set(["npm", "pnpm", "yarn", "bun"]);
/** Runners of a package's binary: `npx vite`, `pnpm exec vite`, `bun x vite`. */
const RUNNERS = new Set(["npx", "bunx", "pnpx"]);
const RUNNER_SUBCOMMANDS = new Set(["exec", "dlx", "x"]);
/** Programs that only set up the environment for the command after them. */
const ENV_WRAPPERS = new Set(["env", "cross-env"]);
const INTERPRETERS = /^(?:python[0-9.]*|node|ruby)$/;

export function readCommand(command: string | readonly string[], pkg?: PackageJson): Invocation {
  if (typeof command !== "string") {
    return { spawn: { argv: [...command] }, ...follow([...command], pkg, [], 0) };
  }
  const line = readShellLine(command);
  const words = lastCommandWords(line.tokens);
  const hasOperators = line.tokens.some((token) => token.kind === "op");
  const needsShell = line.complex || hasOperators || isAssignment(words[0] ?? "");
  const spawn: Spawn = needsShell ? { shell: command } : { argv: words };
  const found = follow(words, pkg, [], 0);
  // A line ending in `&` or `;`, or one with parts we do not model, cannot take arguments at its end.
  const last = line.tokens[line.tokens.length - 1];
  if (line.complex || last?.kind === "op") return { spawn, ...found, appendPrefix: undefined };
  return { spawn, ...found };
}

type Found = Omit<Invocation, "spawn">;

function follow(words: string[], pkg: PackageJson | undefined, prefix: string[], depth: number): Found {
  const rest = unwrap(words);
  const program = rest[0] === undefined ? undefined : basename(rest[0]).replace(/\.(?:[cm]?js|ts)$/, "");
  const args = rest.slice(1);
  const script = program !== undefined && MANAGERS.has(program) ? scriptOf(program, args, pkg) : undefined;
  if (!script || !pkg?.scripts || depth >= MAX_SCRIPT_DEPTH) {
    return { ...(program === undefined ? {} : { program }), args, appendPrefix: prefix, scripts: [] };
  }
  const body = pkg.scripts[script.name] ?? "";
  const line = readShellLine(body);
  const last = line.tokens[line.tokens.length - 1];
  const levelPrefix = program === "npm" && !script.rest.includes("--") ? [...prefix, "--"] : prefix;
  const inner = follow(lastCommandWords(line.tokens), pkg, levelPrefix, depth + 1);
  // Arguments the user already gave after the script name come before ours, at the end of the script's command.
  const innerArgs = [...inner.args, ...script.rest.filter((arg) => arg !== "--")];
  const reachable = !line.complex && last?.kind !== "op" && inner.appendPrefix !== undefined;
  return {
    ...inner,
    args: innerArgs,
    appendPrefix: reachable ? inner.appendPrefix : undefined,
    scripts: [script.name, ...inner.scripts],
  };
}

/** Drops what comes before the real program: assignments, `env`/`cross-env`, `npx`-style runners, interpreters. */
function unwrap(words: string[]): string[] {
  let rest = words;
  for (let guard = 0; guard < 8; guard++) {
    const first = rest[0];
    if (first === undefined) return rest;
    const name = basename(first);
    if (isAssignment(first)) rest = rest.slice(1);
    else if (ENV_WRAPPERS.has(name)) rest = rest.slice(1);
    else if (RUNNERS.has(name)) rest = dropOptions(rest.slice(1));
    else if (MANAGERS.has(name) && RUNNER_SUBCOMMANDS.has(rest[1] ?? "")) rest = dropOptions(rest.slice(2));
    else if (INTERPRETERS.test(name)) rest = dropOptions(rest.slice(1));
    else return rest;
  }
  return rest;
}

/** `npx -y vite` → `vite`: leading options of a runner (none of the common ones takes a value we need). */
function dropOptions(words: string[]): string[] {
  const at = words.findIndex((word) => !word.startsWith("-"));
  return at === -1 ? [] : words.slice(at);
}

/**
 * The script a package-manager command runs, and the words after its name. `npm run dev`, `npm start`, `pnpm dev`,
 * `yarn dev`, `bun run dev`, `bun dev`; for pnpm, yarn and bun a bare name counts only when package.json has that
 * script (otherwise they run a binary or a file of that name).
 */
function scriptOf(
  manager: string,
  args: string[],
  pkg: PackageJson | undefined,
): { name: string; rest: string[] } | undefined {
  const scripts = pkg?.scripts ?? {};
  const [first, second] = args;
  if (first === undefined) return undefined;
  if ((first === "run" || first === "run-script") && second !== undefined) {
    return Object.hasOwn(scripts, second) ? { name: second, rest: args.slice(2) } : undefined;
  }
  if (manager === "npm")
    return first === "start" && Object.hasOwn(scripts, "start") ? { name: "start", rest: args.slice(1) } : undefined;
  return Object.hasOwn(scripts, first) ? { name: first, rest: args.slice(1) } : undefined;
}

/** Every dependency name of a package.json (runtime and dev). */
export function dependencyNames(pkg: PackageJson | undefined): Set<string> {
  return new Set([...Object.keys(pkg?.dependencies ?? {}), ...Object.keys(pkg?.devDependencies ?? {})]);
}
