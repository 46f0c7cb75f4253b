/**
 * Which host names are `gotunnel run`'s own, and the address they stand for. Shared by every resolver run hands to its
 * command (ci/preload.ts serialises `matchesRouteName` into the Node and Bun preload; ci/python.ts and ci/curl.ts
 * carry the same lists), so "ours" means the same everywhere: the routes' names, and below a wildcard route both its
 * subdomains and the name itself, as proxy/router.ts matches them. Pure: no sockets, no files.
 */

/** Lowercased ASCII names without a trailing dot. */
export interface RouteNames {
  exact: string[];
  /** `.app.local` for the wildcard route `*.app.local`: matches `x.app.local`, `y.x.app.local` and `app.local`. */
  suffixes: string[];
}

export function routeNames(routes: readonly { name: string; wildcard: boolean }[]): RouteNames {
  const exact: string[] = [];
  const suffixes: string[] = [];
  for (const route of routes) {
    if (!route.wildcard) exact.push(route.name);
    else suffixes.push(route.name.startsWith("*.") ? route.name.slice(1) : `.${route.name}`);
  }
  return { exact, suffixes };
}

/** The names a client can type: exact names, and each wildcard's own name (`app.local` for `*.app.local`). */
export function typedNames(names: RouteNames): string[] {
  return [...names.exact, ...names.suffixes.map((suffix) => suffix.slice(1))];
}

/**
 * Is `host` (a host name as a client passes it to its resolver: any case, maybe a trailing dot) one of ours?
 * Self-contained on purpose: ci/preload.ts runs its source inside the user's Node or Bun process.
 */
export function matchesRouteName(names: RouteNames, host: unknown): boolean {
  if (typeof host !== "string") return false;
  let name = host.toLowerCase();
  if (name.endsWith(".")) name = name.slice(0, -1);
  if (names.exact.includes(name)) return true;
  return names.suffixes.some((suffix) => name.endsWith(suffix) || name === suffix.slice(1));
}

/** Where the names point: the proxy's bind address, or loopback when it listens on every address. */
export function connectAddress(bindHost: string): string {
  return bindHost === "0.0.0.0" || bindHost === "::" ? "127.0.0.1" : bindHost;
}
