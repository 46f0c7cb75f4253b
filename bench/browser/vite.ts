/**
 * The dev server every target serves: the pinned `vite` devDependency on the generated app (app.ts), started once
 * with the machine's Node and pinned to the server CPU. `direct` is the browser talking to it over HTTP/1.1, as a
 * developer does at http://localhost:5173 (and a phone at http://<laptop's address>:5173).
 *
 * Its config sets `server.allowedHosts: true`: the proxies forward the page's name (bench.local) as the Host, which
 * Vite answers with 403 "Blocked request" otherwise, and the bench measures the proxies, not that check.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CpuPlan } from "../lib/cpu.ts";
import { pinned } from "../lib/cpu.ts";
import { REPO_ROOT } from "../lib/options.ts";
import { freePort, run, spawnManaged, stopManaged, waitForPorts } from "../lib/proc.ts";
import { writeApp } from "./app.ts";
import type { BrowserTarget } from "./target.ts";

const VITE_PACKAGE = join(REPO_ROOT, "node_modules/vite");
const START_TIMEOUT_MS = 30_000;

export interface ViteServer {
  port: number;
  /** `direct`: the browser straight to Vite. Its stop() is a no-op; the server outlives every target. */
  direct: BrowserTarget;
  stop(): Promise<void>;
}

function viteConfig(dir: string): string {
  const config = {
    clearScreen: false,
    logLevel: "warn",
    cacheDir: join(dir, "vite-cache"),
    server: { allowedHosts: true },
  };
  return `export default ${JSON.stringify(config, null, 2)};\n`;
}

export async function startVite(options: {
  dir: string;
  modules: number;
  bindHost: string;
  cpus: CpuPlan | null;
}): Promise<ViteServer> {
  const root = join(options.dir, "app");
  writeApp(root, options.modules);
  const config = join(root, "vite.config.mjs");
  writeFileSync(config, viteConfig(options.dir));
  const port = freePort();
  const cli = [join(VITE_PACKAGE, "bin/vite.js"), root, "--config", config, "--port", String(port), "--strictPort"];
  const cmd = pinned(options.cpus, "server", ["node", ...cli, "--host", options.bindHost]);
  const managed = spawnManaged("vite", cmd, { cwd: root, logPath: join(options.dir, "vite.log") });
  await waitForPorts(managed, [port], START_TIMEOUT_MS);
  const viteVersion = JSON.parse(readFileSync(join(VITE_PACKAGE, "package.json"), "utf8")).version as string;
  const nodeVersion = (await run(["node", "--version"], 5000)).stdout.trim();
  return {
    port,
    direct: {
      name: "direct",
      url: (address) => `http://${address}:${port}/`,
      caPath: null,
      version: `Vite ${viteVersion} on Node ${nodeVersion}, HTTP/1.1 (the server every target forwards to)`,
      stop: async () => {},
    },
    stop: () => stopManaged(managed),
  };
}
