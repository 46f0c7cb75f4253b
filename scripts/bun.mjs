#!/usr/bin/env node
// Bootstrap for a machine that has only Node and npm: installs the pinned Bun from the npm registry into
// .tools/, installs the project's dependencies with it, then runs Bun with the given arguments.
// Usage: node scripts/bun.mjs <bun args...>     e.g. `node scripts/bun.mjs run scripts/test.ts`
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const BUN_VERSION = pkg.engines.bun;
const toolsDir = join(root, ".tools");
const bunBin = join(toolsDir, "node_modules", "bun", "bin", process.platform === "win32" ? "bun.exe" : "bun.exe");
const bunShim = join(toolsDir, "node_modules", ".bin", process.platform === "win32" ? "bun.cmd" : "bun");

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { stdio: "inherit", cwd: root, ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function installedBunVersion() {
  const bin = existsSync(bunBin) ? bunBin : bunShim;
  if (!existsSync(bin)) return undefined;
  const result = spawnSync(bin, ["--version"], { encoding: "utf8" });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

if (installedBunVersion() !== BUN_VERSION) {
  console.error(`gotunnel: installing Bun ${BUN_VERSION} from the npm registry into .tools/ ...`);
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const status = run(npm, [
    "install",
    "--prefix",
    toolsDir,
    "--no-save",
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
    `bun@${BUN_VERSION}`,
  ]);
  if (status !== 0 || installedBunVersion() !== BUN_VERSION) {
    console.error(`gotunnel: could not install Bun ${BUN_VERSION} with npm (exit ${status}).`);
    process.exit(status || 1);
  }
}
const bun = existsSync(bunBin) ? bunBin : bunShim;

// Install dependencies when node_modules is missing or older than the lockfile.
const lock = join(root, "bun.lock");
const marker = join(root, "node_modules", ".bun-installed");
if (!existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs)) {
  const status = run(bun, ["install", "--frozen-lockfile"]);
  if (status !== 0) process.exit(status);
  run(process.execPath, ["-e", `require("fs").writeFileSync(${JSON.stringify(marker)}, "")`]);
}

// The npm package's binary is named bun.exe: the shim dir first, so child processes find `bun` by its name.
const separator = process.platform === "win32" ? ";" : ":";
const env = { ...process.env, PATH: [dirname(bunShim), dirname(bun), process.env.PATH].join(separator) };
process.exit(run(bun, process.argv.slice(2), { env }));
