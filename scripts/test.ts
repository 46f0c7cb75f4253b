/**
 * `bun run test` (what CI runs): installs the system tools the tests drive when it can (root with apt-get:
 * scripts/system-deps.ts; `GOTUNNEL_TEST_INSTALL=0` turns that off), typecheck, lint, build the binary, then every
 * test tier. It ends with the skipped tests and why, then `N skipped`, then a last plain line `N passed, N failed` that
 * counts test cases (plus one failure per failed check step).
 * `bun run test unit` / `integration` / `e2e` / `browser` runs one tier (e2e and browser build first). The browser tier
 * (tests/browser: real Vite and Next dev servers in headless Chromium and Firefox) is the slowest; its files are
 * independent of each other and of e2e, so a run that has e2e starts it beside the other tiers and prints its output, held back,
 * once it ends (`GOTUNNEL_TEST_SERIAL=1` runs the tiers one after another).
 */
import { join } from "node:path";
import { binaryIdentity, printsInfoLines } from "./dist-check.ts";
import { installMissing, packageOf } from "./system-deps.ts";

const TIERS = ["unit", "integration", "e2e", "browser"] as const;
type Tier = (typeof TIERS)[number];

const requested = process.argv.slice(2).filter((arg): arg is Tier => (TIERS as readonly string[]).includes(arg));
const tiers: Tier[] = requested.length > 0 ? requested : [...TIERS];
const full = requested.length === 0;

interface StepResult {
  ok: boolean;
  output: string;
}

/** Runs one step, its output shown as it comes, or (`quiet`, a step running beside another) kept for the caller. */
async function step(name: string, cmd: string[], quiet = false): Promise<StepResult> {
  const banner = `\n── ${name}: ${cmd.join(" ")}\n`;
  if (!quiet) process.stderr.write(banner);
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", env: process.env });
  const chunks: string[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>, sink: NodeJS.WriteStream) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      chunks.push(text);
      if (!quiet) sink.write(text);
    }
  };
  await Promise.all([pump(proc.stdout, process.stdout), pump(proc.stderr, process.stderr), proc.exited]);
  const output = chunks.join("");
  if (quiet) process.stderr.write(`${banner}${output}`);
  return { ok: proc.exitCode === 0, output };
}

function count(output: string, label: "pass" | "fail" | "skip"): number {
  const match = new RegExp(`^\\s*(\\d+) ${label}$`, "m").exec(output);
  return match ? Number(match[1]) : 0;
}

/** Tests must never touch the machine's real hosts file (we may run as root): prove it on every run. */
const REAL_HOSTS_FILE = "/etc/hosts";
async function hostsDigest(): Promise<string> {
  const file = Bun.file(REAL_HOSTS_FILE);
  return (await file.exists())
    ? new Bun.CryptoHasher("sha256").update(await file.arrayBuffer()).digest("hex")
    : "absent";
}
const hostsBefore = await hostsDigest();

/**
 * bun test prints each file's path, then `(skip) <title>` per skipped test; a skipped test's title says why
 * (tests/helpers/tools.ts). Hooks of a skipped block show up as `(unnamed)`: not tests, left out. At the end it
 * repeats them under "N tests skipped:", with no file: that summary is not read.
 */
function skippedTests(output: string): string[] {
  const skipped: string[] = [];
  let file = "";
  for (const line of output.split("\n")) {
    if (/^\d+ tests? \w+:$/.test(line)) break;
    if (/^\S+\.test\.ts:$/.test(line)) file = line.slice(0, -1);
    else if (line.startsWith("(skip) ") && !line.endsWith("> (unnamed)")) skipped.push(`${file}: ${line.slice(7)}`);
  }
  return skipped;
}

/**
 * Programs nearly every test of a tier drives (tests/helpers/e2e.ts, proxy.ts, browser.ts): without them, skip the
 * tier. Firefox is not among the browser tier's: where only it is missing, its tests skip themselves, with the reason.
 */
const TIER_TOOLS: Record<Tier, string[]> = {
  unit: [],
  integration: ["curl", "openssl"],
  e2e: ["curl", "openssl"],
  browser: ["chromium", "certutil"],
};
/** Tiers that run the compiled binary: the build step comes first, and dist/gotunnel is checked after them. */
const BINARY_TIERS: readonly Tier[] = ["e2e", "browser"];
const runsBinary = tiers.some((tier) => BINARY_TIERS.includes(tier));

function missingToolsReason(tier: Tier): string | undefined {
  const missing = TIER_TOOLS[tier].filter((tool) => Bun.which(tool) === null);
  if (missing.length === 0) return undefined;
  return `needs ${missing.join(", ")}: apt-get install ${[...new Set(missing.map(packageOf))].join(" ")}`;
}

const DIST_BINARY = join(import.meta.dir, "..", "dist", "gotunnel");

let passed = 0;
let failed = 0;
let skipped = 0;
const skippedList: string[] = [];
const bun = process.execPath;

process.stderr.write("\n── system tools\n");
const install = installMissing((line) => process.stderr.write(`${line}\n`));
if (install.notInstalled) {
  process.stderr.write(`not installed (${install.notInstalled}): ${install.wanted.join(" ")}\n`);
  process.stderr.write("tests that need them are skipped, each with the reason in its title\n");
} else if (install.wanted.length === 0) process.stderr.write("every system tool the tests use is installed\n");

const checks: [string, string[]][] = [];
if (full) {
  checks.push(["typecheck", [bun, "x", "tsc", "--noEmit", "-p", "tsconfig.json"]]);
  checks.push(["lint", [bun, "x", "biome", "check", "src", "tests", "scripts", "bench", "examples"]]);
}
if (runsBinary) checks.push(["build", [bun, "scripts/build.ts"]]);
for (const [name, cmd] of checks) {
  const result = await step(name, cmd);
  if (!result.ok) {
    failed++;
    process.stderr.write(`✗ ${name} failed\n`);
  }
}
const distBuilt = binaryIdentity(DIST_BINARY);
function runTier(tier: Tier, quiet = false): Promise<StepResult | undefined> {
  const missing = missingToolsReason(tier);
  if (missing) {
    process.stderr.write(`\n── ${tier} tests: skipped (${missing})\n`);
    skippedList.push(`tests/${tier}: the whole tier (skipped: ${missing})`);
    return Promise.resolve(undefined);
  }
  return step(`${tier} tests`, [bun, "test", "--timeout", "60000", `tests/${tier}`], quiet);
}

function tally(tier: Tier, result: StepResult | undefined): void {
  if (!result) return;
  const tierPassed = count(result.output, "pass");
  const tierFailed = count(result.output, "fail");
  passed += tierPassed;
  failed += tierFailed;
  skipped += count(result.output, "skip");
  skippedList.push(...skippedTests(result.output));
  // A crashed runner or a tier that ran nothing is a failure, not a silent zero.
  if (!result.ok && tierFailed === 0) failed++;
  if (result.ok && tierPassed === 0) {
    failed++;
    process.stderr.write(`✗ ${tier}: no tests ran\n`);
  }
}

// The browser tier starts with the other tiers and runs beside them (most of its time is spent waiting on dev
// servers, browsers and timers).
const besideE2e =
  tiers.includes("e2e") && tiers.includes("browser") && process.env.GOTUNNEL_TEST_SERIAL !== "1"
    ? runTier("browser", true)
    : undefined;
for (const tier of tiers) {
  if (tier === "browser" && besideE2e) continue;
  tally(tier, await runTier(tier));
}
if (besideE2e) tally("browser", await besideE2e);
// After the e2e and browser tiers, dist/gotunnel is still the build of the build step: no test replaced it.
if (runsBinary && distBuilt !== "absent") {
  if (binaryIdentity(DIST_BINARY) !== distBuilt) {
    failed++;
    process.stderr.write(`✗ ${DIST_BINARY} was replaced during the tests: a test must build into a temp dir\n`);
  } else if (!printsInfoLines(DIST_BINARY)) {
    failed++;
    process.stderr.write(`✗ ${DIST_BINARY} prints no info lines: was it built with NODE_ENV=test?\n`);
  }
}
if ((await hostsDigest()) !== hostsBefore) {
  failed++;
  process.stderr.write(`✗ ${REAL_HOSTS_FILE} changed during the tests: a test escaped its sandbox\n`);
}
if (skippedList.length > 0) {
  console.log(`\nskipped (${skippedList.length}):`);
  for (const line of skippedList) console.log(`  ${line}`);
}
console.log(`${skipped} skipped`);
// CI reads exactly this line, and it must be the last one.
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
