/**
 * `bun run build`: compiles src/main.ts into dist/gotunnel for this machine, with version, commit and date built in.
 * `bun run build --target bun-linux-arm64 --outfile dist/x` cross-compiles (runtimes come from the npm registry).
 * Fails loudly when Bun prints "Failed to generate bytecode" (it exits 0 and the binary would crash; DESIGN.md).
 */
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import pkg from "../package.json" with { type: "json" };

const { values } = parseArgs({
  allowNegative: true,
  options: {
    target: { type: "string" },
    outfile: { type: "string", default: "dist/gotunnel" },
    bytecode: { type: "boolean", default: true },
  },
});

function gitCommit(): string {
  const result = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { stderr: "ignore" });
  return result.exitCode === 0 ? result.stdout.toString().trim() : "unknown";
}

/**
 * `bun build` inlines `process.env.NODE_ENV` from its own environment, and `bun test` sets NODE_ENV=test: a build
 * run from a test baked "test" in, and consola then hid every info line of that binary (DESIGN.md). So the value is
 * always defined as this one, whatever the caller's environment says.
 */
const BUILD_NODE_ENV = "production";

const define = {
  "process.env.NODE_ENV": JSON.stringify(BUILD_NODE_ENV),
  GOTUNNEL_BUILD_VERSION: JSON.stringify(process.env.GOTUNNEL_VERSION ?? pkg.version),
  GOTUNNEL_BUILD_COMMIT: JSON.stringify(process.env.GOTUNNEL_COMMIT ?? gitCommit()),
  GOTUNNEL_BUILD_DATE: JSON.stringify(
    process.env.SOURCE_DATE_EPOCH
      ? new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000).toISOString()
      : new Date().toISOString(),
  ),
};

const args = [
  "build",
  "--compile",
  "--minify",
  "--sourcemap",
  "--format=esm",
  // Each lazily imported module becomes its own chunk inside the binary, loaded when first imported: the daemon then
  // holds only the code it runs, not every command's (issue 18: about 5 MiB less RSS for an idle daemon).
  "--splitting",
  "src/main.ts",
];
if (values.bytecode) args.push("--bytecode");
if (values.target) args.push("--target", values.target);
for (const [name, value] of Object.entries(define)) args.push("--define", `${name}=${value}`);

/**
 * With --splitting, `--sourcemap` writes one `<chunk>-<hash>.js.map` per chunk next to the binary, under new names at
 * each build. So Bun builds into a private directory beside the output, and the binary and its maps are moved out:
 * the binary to `outfile`, every map into `<outfile>.maps/` (replaced at each build).
 */
const outfile = resolve(values.outfile!);
// A fresh clone has no dist/ yet.
mkdirSync(dirname(outfile), { recursive: true });
const workDir = mkdtempSync(join(dirname(outfile), ".build-"));
const built = join(workDir, basename(outfile));

/** One `bun build` run; exits the script on failure, as Bun's exit code 0 after a bytecode failure is no success. */
async function compile(extra: string[]): Promise<void> {
  const proc = Bun.spawn([process.execPath, ...args, "--outfile", built, ...extra], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  process.stdout.write(stdout);
  process.stderr.write(stderr);
  if (exitCode !== 0 || /Failed to generate bytecode/i.test(stdout + stderr)) {
    console.error(
      `build failed (exit ${exitCode})${/bytecode/i.test(stdout + stderr) ? ": bytecode generation failed" : ""}`,
    );
    rmSync(workDir, { recursive: true, force: true });
    process.exit(exitCode || 1);
  }
}

function moveOut(): void {
  const maps = `${outfile}.maps`;
  rmSync(maps, { recursive: true, force: true });
  rmSync(`${outfile}.map`, { force: true }); // the single map of builds before --splitting
  mkdirSync(maps, { recursive: true });
  for (const name of readdirSync(workDir)) {
    if (name.endsWith(".map")) renameSync(join(workDir, name), join(maps, name));
  }
  renameSync(built, outfile);
  rmSync(workDir, { recursive: true, force: true });
}

await compile([]);
moveOut();
console.log(`built ${values.outfile} (${define.GOTUNNEL_BUILD_VERSION}, ${define.GOTUNNEL_BUILD_COMMIT})`);
