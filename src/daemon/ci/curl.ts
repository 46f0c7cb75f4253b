/**
 * The `.curlrc` `gotunnel run` gives curl through CURL_HOME, the first place curl looks for its config (curl docs,
 * `--config`: CURL_HOME, then XDG_CONFIG_HOME, then HOME). It holds one `resolve = name:port:address` line per route
 * name and proxy port (curl's `--resolve`, which keeps the name for SNI, Host and certificate checks), and first
 * includes the config curl would have read otherwise, so the user's own settings still apply. `curl -q` reads no
 * config at all; GOTUNNEL_CURL_RESOLVE serves that case, as before.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

export const CURL_DIR = "curl";
export const CURLRC_FILE = ".curlrc";

type Env = Record<string, string | undefined>;

/**
 * The config file curl reads when CURL_HOME is not ours, in curl's own order (src/tool_findfile.c): `.curlrc` in
 * CURL_HOME, XDG_CONFIG_HOME, HOME; then, only when XDG_CONFIG_HOME is unset, `curlrc` in CURL_HOME/.config and
 * HOME/.config. Undefined when there is none.
 */
export function userCurlrc(env: Env, exists: (path: string) => boolean = existsSync): string | undefined {
  const candidates: string[] = [];
  for (const name of ["CURL_HOME", "XDG_CONFIG_HOME", "HOME"]) {
    const dir = env[name];
    if (dir) candidates.push(join(dir, CURLRC_FILE));
  }
  if (!env.XDG_CONFIG_HOME) {
    for (const name of ["CURL_HOME", "HOME"]) {
      const dir = env[name];
      if (dir) candidates.push(join(dir, ".config", "curlrc"));
    }
  }
  return candidates.find(exists);
}

export function curlrcSource(options: {
  names: string[];
  ports: number[];
  address: string;
  include: string | undefined;
}): string {
  // curl's --resolve takes an IPv6 address in brackets.
  const address = options.address.includes(":") ? `[${options.address}]` : options.address;
  const lines = [
    "# Written by `gotunnel run` for one run, removed when it ends: its route names resolve to its proxy.",
  ];
  if (options.include) lines.push(`config = ${quoted(options.include)}`);
  for (const name of options.names) {
    for (const port of new Set(options.ports)) lines.push(`resolve = ${name}:${port}:${address}`);
  }
  return `${lines.join("\n")}\n`;
}

/** A curl config string: double quotes, with `\` and `"` escaped (curl docs, `--config`). */
function quoted(value: string): string {
  return `"${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}
