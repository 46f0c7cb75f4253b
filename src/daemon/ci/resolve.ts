/**
 * How `gotunnel run`'s command reaches the routes BY NAME with no hosts file, no root and nothing else on the machine
 * changed: one standard hook per runtime, each given only the run's own names, all in the run's temp dir (removed
 * with it) and all reached through the command's environment:
 *
 * - Node: `NODE_OPTIONS=--require=<file>` answers our names in `dns.lookup` (ci/preload.ts).
 * - Bun: `BUN_OPTIONS=--preload=<file>`, the same file, which also gives fetch and WebSocket a proxy (ci/tunnel.ts).
 * - Python: `PYTHONPATH` leads to a `sitecustomize` that answers them in `socket.getaddrinfo` (ci/python.ts).
 * - curl: `CURL_HOME` leads to a `.curlrc` of `resolve` lines (ci/curl.ts).
 *
 * Why not the alternatives (measured on Debian 12, glibc 2.36, Node 20, Bun 1.4.5, Python 3.11, curl 7.88): glibc's
 * getaddrinfo has no per-process hosts file (HOSTALIASES maps only dot-less names, and to other names); `.localhost`
 * names resolve in curl and Bun.dns but not through glibc, Node or Python, and most routes are `.local` names; a
 * user + mount namespace with a private /etc/hosts (`unshare -rm`) makes the command uid 0 and breaks `sudo` inside
 * it, and container seccomp profiles often forbid it.
 */
import { delimiter, join } from "node:path";
import { withOwnedDir } from "../../platform/safe-fs.ts";
import { CURL_DIR, CURLRC_FILE, curlrcSource, userCurlrc } from "./curl.ts";
import { matchesRouteName, type RouteNames, typedNames } from "./names.ts";
import { PRELOAD_FILE, type PreloadData, preloadSource } from "./preload.ts";
import { PYTHON_DIR, SITECUSTOMIZE_FILE, sitecustomizeSource } from "./python.ts";
import { startTunnel } from "./tunnel.ts";

type Env = Record<string, string | undefined>;

/** Read by the command's own user only; the run's temp dir is 0700 already. */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
const RESOLVE_DIR = "resolve";
/** Variables that send HTTP clients to a proxy; when one is set our names go in NO_PROXY (curl, requests, Go). */
const PROXY_VARIABLES = ["http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"];
const NO_PROXY_VARIABLES = ["NO_PROXY", "no_proxy"];

export interface NameResolutionOptions {
  /** The run's temp dir; everything is written below it. */
  root: string;
  names: RouteNames;
  /** Where the names point (names.ts connectAddress). */
  address: string;
  /** The proxy's ports: every name resolves on each. */
  ports: number[];
  /** The command's environment before this step. */
  env: Env;
}

export interface NameResolution {
  /** Variables to add to (or replace in) the command's environment. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function prepareNameResolution(options: NameResolutionOptions): Promise<NameResolution> {
  const { names, address, env } = options;
  const tunnel = await startTunnel((host) => (matchesRouteName(names, host) ? address : undefined));
  try {
    const noProxy = noProxyEnv(env, typedNames(names));
    const original = Object.fromEntries(Object.keys(noProxy).map((key) => [key, env[key] ?? null]));
    const preload: PreloadData = { ...names, address, proxy: tunnel.url, noProxy: original };
    const dir = join(options.root, RESOLVE_DIR);
    withOwnedDir(dir, DIR_MODE, (resolve) => {
      resolve.writeAtomic(PRELOAD_FILE, preloadSource(preload), FILE_MODE);
      const python = resolve.subdir(PYTHON_DIR, DIR_MODE);
      try {
        python.writeAtomic(SITECUSTOMIZE_FILE, sitecustomizeSource(names, address), FILE_MODE);
      } finally {
        python.close();
      }
      const curl = resolve.subdir(CURL_DIR, DIR_MODE);
      try {
        const curlrc = { names: typedNames(names), ports: options.ports, address, include: userCurlrc(env) };
        curl.writeAtomic(CURLRC_FILE, curlrcSource(curlrc), FILE_MODE);
      } finally {
        curl.close();
      }
    });
    const preloadPath = join(dir, PRELOAD_FILE);
    return {
      env: {
        NODE_OPTIONS: withOption(env.NODE_OPTIONS, `--require=${preloadPath}`),
        BUN_OPTIONS: withOption(env.BUN_OPTIONS, `--preload=${preloadPath}`),
        PYTHONPATH: [join(dir, PYTHON_DIR), env.PYTHONPATH].filter(Boolean).join(delimiter),
        CURL_HOME: join(dir, CURL_DIR),
        ...noProxy,
      },
      stop: () => tunnel.stop(),
    };
  } catch (error) {
    await tunnel.stop();
    throw error;
  }
}

/**
 * `existing` plus one option, as NODE_OPTIONS and BUN_OPTIONS split them: on spaces, with a double-quoted token kept
 * whole and `\` escaping inside it (Node docs, NODE_OPTIONS; Bun 1.4.5 reads a quoted token the same way, measured).
 * Bun reads `--preload PATH` (two tokens) wrongly before a subcommand (`bun test` becomes `bun run test`), so every
 * option is one token.
 */
export function withOption(existing: string | undefined, option: string): string {
  const token = /[\s"'\\]/.test(option) ? `"${option.replace(/[\\"]/g, "\\$&")}"` : option;
  return existing?.trim() ? `${existing} ${token}` : token;
}

/**
 * NO_PROXY and no_proxy with our names added, when a proxy variable is set: a CI proxy cannot resolve our names, so
 * curl, requests and Node's env proxy must connect directly (to what the hooks above answer). Empty otherwise.
 */
export function noProxyEnv(env: Env, names: string[]): Record<string, string> {
  if (names.length === 0 || !PROXY_VARIABLES.some((name) => env[name])) return {};
  // curl reads no_proxy before NO_PROXY, requests the other way round: both get the user's list, whichever was set.
  const theirs = env.no_proxy || env.NO_PROXY;
  const value = [theirs, ...names].filter(Boolean).join(",");
  return Object.fromEntries(NO_PROXY_VARIABLES.map((name) => [name, value]));
}
