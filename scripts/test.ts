/**
 * `bun run test` (what CI runs): typecheck, lint, build the binary, then every test tier, and a final plain line
 * `N passed, N failed` that counts test cases (plus one failure per failed check step).
 * `bun run test unit` / `integration` / `e2e` runs one tier (e2e builds first).
 */
export {};

const TIERS = ["unit", "integration", "e2e"] as const;
type Tier = (typeof TIERS)[number];

const requested = process.argv.slice(2).filter((arg): arg is Tier => (TIERS as readonly string[]).includes(arg));
const tiers: Tier[] = requested.length > 0 ? requested : [...TIERS];
const full = requested.length === 0;

interface StepResult {
  ok: boolean;
  output: string;
}

async function step(name: string, cmd: string[]): Promise<StepResult> {
  process.stderr.write(`\n── ${name}: ${cmd.join(" ")}\n`);
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", env: process.env });
  const chunks: string[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>, sink: NodeJS.WriteStream) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      chunks.push(text);
      sink.write(text);
    }
  };
  await Promise.all([pump(proc.stdout, process.stdout), pump(proc.stderr, process.stderr), proc.exited]);
  return { ok: proc.exitCode === 0, output: chunks.join("") };
}

function count(output: string, label: "pass" | "fail"): number {
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

let passed = 0;
let failed = 0;
const bun = process.execPath;
const checks: [string, string[]][] = [];
if (full) {
  checks.push(["typecheck", [bun, "x", "tsc", "--noEmit", "-p", "tsconfig.json"]]);
  checks.push(["lint", [bun, "x", "biome", "check", "src", "tests", "scripts", "bench", "examples"]]);
}
if (tiers.includes("e2e")) checks.push(["build", [bun, "scripts/build.ts"]]);
for (const [name, cmd] of checks) {
  const result = await step(name, cmd);
  if (!result.ok) {
    failed++;
    process.stderr.write(`✗ ${name} failed\n`);
  }
}
for (const tier of tiers) {
  const result = await step(`${tier} tests`, [bun, "test", "--timeout", "60000", `tests/${tier}`]);
  const tierPassed = count(result.output, "pass");
  const tierFailed = count(result.output, "fail");
  passed += tierPassed;
  failed += tierFailed;
  // A crashed runner or a tier that ran nothing is a failure, not a silent zero.
  if (!result.ok && tierFailed === 0) failed++;
  if (result.ok && tierPassed === 0) {
    failed++;
    process.stderr.write(`✗ ${tier}: no tests ran\n`);
  }
}
if ((await hostsDigest()) !== hostsBefore) {
  failed++;
  process.stderr.write(`✗ ${REAL_HOSTS_FILE} changed during the tests: a test escaped its sandbox\n`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
