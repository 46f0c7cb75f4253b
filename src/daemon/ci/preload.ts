/**
 * The module `gotunnel run` preloads into every Node process of its command (`NODE_OPTIONS=--require=…`) and every
 * Bun process (`BUN_OPTIONS=--preload=…`), so `fetch(process.env.GOTUNNEL_URL_…)` reaches the route by its name
 * without the hosts file. Only the run's own names change; every other name resolves as before.
 *
 * - Node: `fetch` (undici), `http`, `https`, `net`, `tls` and WebSocket clients all connect through `dns.lookup`
 *   unless given a `lookup` of their own (Node docs, net.connect `lookup`), so the preload answers our names there.
 * - Bun: `node:http`, `node:https` and `node:net` also go through `dns.lookup`, but `fetch` and `WebSocket` resolve
 *   natively with getaddrinfo and take no lookup hook; they take a `proxy` option, so for our names they get the
 *   run's tunnel (ci/tunnel.ts), which connects to the proxy's address. TLS still runs end to end, by name. Bun runs
 *   a preload on the main thread only, so its Workers get this file through their own `preload` option.
 *
 * The functions below run in the user's process from their source text (`Function.prototype.toString`), as does
 * `matchesRouteName`, so they may use nothing from this module's scope; `require` and `__filename` come in as
 * parameters so the bundler never rewrites them.
 */
import { matchesRouteName, type RouteNames } from "./names.ts";

export interface PreloadData extends RouteNames {
  /** The address our names stand for (names.ts connectAddress). */
  address: string;
  /** `http://127.0.0.1:PORT` of the run's tunnel, for Bun's fetch and WebSocket. */
  proxy: string;
  /** NO_PROXY / no_proxy as the command's environment had them (null: unset) when the run added our names. */
  noProxy: Record<string, string | null>;
}

export const PRELOAD_FILE = "gotunnel-names.cjs";

export function preloadSource(data: PreloadData): string {
  return `// Written by \`gotunnel run\` for one run, removed when it ends: its route names resolve to its proxy.
"use strict";
const names = ${JSON.stringify(data)};
const matches = ${matchesRouteName.toString()};
(${answerInDnsLookup.toString()})(require, names, matches);
if (typeof Bun !== "undefined") {
  (${proxyBunClients.toString()})(names, matches);
  (${preloadBunWorkers.toString()})(require, __filename);
}
`;
}

type Matches = (names: RouteNames, host: unknown) => boolean;
type Lookup = (this: unknown, host: unknown, ...rest: unknown[]) => unknown;
type Fetch = (input: unknown, init?: { proxy?: unknown }) => unknown;
type WebSocketClass = new (url: string | URL, options?: unknown) => object;
type WorkerOptions = { preload?: string | string[] } | undefined;
type WorkerClass = new (url: string | URL, options?: WorkerOptions) => object;

/** Node and Bun: `dns.lookup` (callback and promise forms) answers our names with our address. */
export function answerInDnsLookup(load: (id: string) => unknown, data: PreloadData, matches: Matches): void {
  /** The same lookup, given our address instead of our names (so every option and result shape stays Node's). */
  const redirected = (lookup: Lookup): Lookup => {
    const replacement: Lookup = function (this: unknown, host, ...rest) {
      return lookup.call(this, matches(data, host) ? data.address : host, ...rest);
    };
    // util.promisify(dns.lookup) reads a symbol on the function to resolve to { address, family }.
    for (const key of Object.getOwnPropertySymbols(lookup)) {
      (replacement as unknown as Record<symbol, unknown>)[key] = (lookup as unknown as Record<symbol, unknown>)[key];
    }
    return replacement;
  };
  const dns = load("node:dns") as { lookup: Lookup; promises: { lookup: Lookup } };
  dns.lookup = redirected(dns.lookup);
  dns.promises.lookup = redirected(dns.promises.lookup);
  // `import { lookup } from "node:dns"` binds to a copy; Node's documented way to refresh it after a patch.
  (load("node:module") as { syncBuiltinESMExports?: () => void }).syncBuiltinESMExports?.();
}

/** Bun: `fetch` and `WebSocket` to our names go through the run's tunnel. */
export function proxyBunClients(data: PreloadData, matches: Matches): void {
  const scope = globalThis as unknown as { fetch: Fetch; WebSocket: WebSocketClass };
  // Bun honours NO_PROXY even over an explicit `proxy` option, so it gets the command's own values back.
  for (const [key, value] of Object.entries(data.noProxy)) {
    if (value === null) delete process.env[key];
    else process.env[key] = value;
  }
  const ours = (input: unknown): boolean => {
    const href = typeof input === "object" && input !== null && "url" in input ? input.url : input;
    try {
      return matches(data, new URL(String(href)).hostname);
    } catch {
      return false; // Not an absolute URL: Bun's own fetch reports it, as without gotunnel.
    }
  };
  const nativeFetch = scope.fetch;
  const fetch: Fetch = (input, init) =>
    ours(input) && init?.proxy === undefined
      ? nativeFetch(input, { ...init, proxy: data.proxy })
      : nativeFetch(input, init);
  scope.fetch = Object.assign(fetch, nativeFetch); // keeps fetch.preconnect
  const NativeWebSocket = scope.WebSocket;
  const WebSocket = class WebSocket extends NativeWebSocket {
    constructor(url: string | URL, options?: unknown) {
      // Bun's second argument is the protocols, or an options object that may carry them.
      const settings = (
        typeof options === "object" && options !== null && !Array.isArray(options)
          ? options
          : options === undefined
            ? {}
            : { protocols: options }
      ) as { proxy?: unknown };
      super(url, ours(url) && settings.proxy === undefined ? { ...settings, proxy: data.proxy } : options);
    }
  };
  // A minifier may drop the class name; code that prints or checks `WebSocket.name` sees the native one's.
  Object.defineProperty(WebSocket, "name", { value: NativeWebSocket.name });
  scope.WebSocket = WebSocket;
}

/** Bun runs `--preload` on the main thread only; a worker (Web or node:worker_threads) gets it by its own option. */
export function preloadBunWorkers(load: (id: string) => unknown, file: string): void {
  const withPreload = (NativeWorker: WorkerClass): WorkerClass => {
    const Worker = class Worker extends NativeWorker {
      constructor(url: string | URL, options?: WorkerOptions) {
        const theirs = options?.preload === undefined ? [] : [options.preload].flat();
        super(url, { ...options, preload: [file, ...theirs] });
      }
    };
    Object.defineProperty(Worker, "name", { value: NativeWorker.name });
    return Worker;
  };
  const scope = globalThis as unknown as { Worker: WorkerClass };
  scope.Worker = withPreload(scope.Worker);
  const threads = load("node:worker_threads") as { Worker: WorkerClass };
  threads.Worker = withPreload(threads.Worker);
}
