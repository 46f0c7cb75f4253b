/**
 * portless (npm), the leading dev-proxy peer, and the Node 24 it needs (npm package `node`): both come from the npm
 * registry into .artifacts/bench-peers/ on first use, at the versions pinned here, the way scripts/bun.mjs brings
 * Bun. As devDependencies of the project, `node@24` would put a Node 24 `node` on PATH for every `bun run` script and
 * every test that starts a dev server. `bun run bench` and `bun run bench:browser` both start it from here.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./options.ts";
import { runOk } from "./proc.ts";

export const PORTLESS_VERSION = "0.15.6";
export const NODE_FOR_PORTLESS_VERSION = "24.21.0";
const PEERS_DIR = join(REPO_ROOT, ".artifacts/bench-peers");
const INSTALL_TIMEOUT_MS = 300_000;

/** Thrown when the pinned peers are not installed; the benches report the target as skipped with this reason. */
export class PeersMissing extends Error {}

function installedVersion(name: string): string | null {
  const manifest = join(PEERS_DIR, "node_modules", name, "package.json");
  return existsSync(manifest) ? (JSON.parse(readFileSync(manifest, "utf8")).version as string) : null;
}

/**
 * Installs the pinned portless and Node 24 from the npm registry unless they are there already. Called before a
 * bench enters its private namespaces, where there is no network but loopback.
 */
export async function ensurePortless(progress: (line: string) => void): Promise<{ node: string; cli: string }> {
  const current =
    installedVersion("portless") === PORTLESS_VERSION && installedVersion("node") === NODE_FOR_PORTLESS_VERSION;
  if (current && existsSync(join(PEERS_DIR, "node_modules/.bin/node"))) return installedPortless();
  if (!Bun.which("npm")) throw new Error("npm is needed to install portless and Node 24 from the registry");
  progress(`installing portless@${PORTLESS_VERSION} and node@${NODE_FOR_PORTLESS_VERSION} into ${PEERS_DIR}`);
  mkdirSync(PEERS_DIR, { recursive: true });
  const packages = [`portless@${PORTLESS_VERSION}`, `node@${NODE_FOR_PORTLESS_VERSION}`];
  const npm = ["npm", "install", "--prefix", PEERS_DIR, "--no-save", "--no-audit", "--no-fund", "--loglevel=error"];
  await runOk([...npm, ...packages], INSTALL_TIMEOUT_MS);
  return installedPortless();
}

/** The installed peers, or PeersMissing when ensurePortless did not run. */
export function installedPortless(): { node: string; cli: string } {
  const node = join(PEERS_DIR, "node_modules/.bin/node");
  const cli = join(PEERS_DIR, "node_modules/portless/dist/cli.js");
  if (installedVersion("portless") !== PORTLESS_VERSION || !existsSync(node)) {
    throw new PeersMissing(
      `portless ${PORTLESS_VERSION} is not in ${PEERS_DIR} (the bench installs it before it starts)`,
    );
  }
  return { node, cli };
}
