/**
 * `bun run build:all [--targets linux-x64,darwin-arm64] [--deb] [--version X.Y.Z] [--out dist/release]`:
 * cross-compiles every release target with scripts/build.ts into a fresh dist/release/, named
 * `gotunnel-<version>-<os>-<arch>[.exe]`, copies install.sh next to them, optionally wraps the Linux binaries in .deb
 * packages, writes checksums.txt over every file, and signs it when GOTUNNEL_SIGNING_KEY is set.
 *
 * GOTUNNEL_SIGNING_KEY: a minisign secret key or an armored gpg private key, as the key's text or a path to it.
 * GOTUNNEL_SIGNING_PASSWORD: its password, if it has one. Output: checksums.txt.minisig or checksums.txt.sig, checked
 * against the key's public half before the build reports success (a signature nobody can verify is worse than none).
 *
 * Source maps go to dist/sourcemaps/ (next to the output dir), not into the release: they are for symbolicating
 * crash reports, not for users.
 */
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import pkg from "../package.json" with { type: "json" };
import {
  assertVersion,
  binaryName,
  CHECKSUMS_FILE,
  findTarget,
  formatChecksums,
  RELEASE_TARGETS,
  type ReleaseTarget,
  sha256File,
} from "./release.ts";

const ROOT = resolve(import.meta.dir, "..");
/** Linux targets that also ship as .deb, with Debian's name for the architecture. */
const DEB_ARCH: Record<string, string> = { "linux-x64": "amd64", "linux-arm64": "arm64" };
const MIB = 1024 * 1024;

interface Built {
  file: string;
  bytecode: boolean;
}

async function spawn(argv: string[], env: Record<string, string | undefined>) {
  const proc = Bun.spawn(argv, { cwd: ROOT, env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { exitCode, output: stdout + stderr };
}

/**
 * build.ts fails loudly when Bun cannot generate bytecode for a target. Then we build that target once more without
 * bytecode (slower startup, same behaviour) and say so. That retry passes `--no-bytecode`, which build.ts accepts only
 * once its parseArgs gets `allowNegative: true`; until then the retry stops with build.ts's "Unknown option" error,
 * which is still better than shipping a binary that crashes. Bun 1.4.5 makes bytecode for all six targets.
 */
async function buildTarget(target: ReleaseTarget, outfile: string, env: Record<string, string | undefined>) {
  const base = [process.execPath, "scripts/build.ts", "--target", target.bunTarget, "--outfile", outfile];
  const first = await spawn(base, env);
  if (first.exitCode === 0) return true;
  if (!/failed to generate bytecode|bytecode generation failed/i.test(first.output))
    throw new Error(`building ${target.name} failed:\n${first.output}`);
  console.warn(`${target.name}: bytecode generation failed; building without bytecode`);
  const second = await spawn([...base, "--no-bytecode"], env);
  if (second.exitCode !== 0) throw new Error(`building ${target.name} without bytecode failed:\n${second.output}`);
  return false;
}

async function buildDeb(binary: string, version: string, arch: string, out: string): Promise<string> {
  const script = join(ROOT, "packaging", "deb", "build-deb.sh");
  const result = await spawn(["sh", script, binary, version, arch, out], process.env);
  if (result.exitCode !== 0) throw new Error(`.deb for ${arch} failed:\n${result.output}`);
  return result.output.trim().split("\n").pop()!;
}

/**
 * Empties `dir` of an earlier build's files so checksums.txt describes exactly this build. Anything else in it is an
 * error, not a deletion: a mistyped `--out src` must not wipe a source tree.
 */
function cleanReleaseDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const ours = /^(gotunnel[-_].+|install\.sh|checksums\.txt.*)$/;
  const foreign = readdirSync(dir).filter((name) => !ours.test(name));
  if (foreign.length > 0)
    throw new Error(`${dir} holds files build:all did not make (${foreign.join(", ")}): pick an empty --out`);
  for (const name of readdirSync(dir)) rmSync(join(dir, name), { force: true });
}

/** The commit's own time, so rebuilding one commit embeds the same build date (reproducible builds). */
function sourceDateEpoch(): string | undefined {
  const result = Bun.spawnSync(["git", "log", "-1", "--format=%ct"], { cwd: ROOT, stderr: "ignore" });
  const epoch = result.stdout.toString().trim();
  return result.exitCode === 0 && /^\d+$/.test(epoch) ? epoch : undefined;
}

export async function writeChecksums(dir: string): Promise<string> {
  const entries = new Map<string, string>();
  for (const file of readdirSync(dir).sort()) {
    if (file.startsWith(CHECKSUMS_FILE) || !statSync(join(dir, file)).isFile()) continue;
    entries.set(file, await sha256File(join(dir, file)));
  }
  const path = join(dir, CHECKSUMS_FILE);
  await Bun.write(path, formatChecksums(entries));
  return path;
}

export type SigningKind = "minisign" | "gpg";

export function signingKeyKind(key: string): SigningKind {
  if (key.includes("-----BEGIN PGP PRIVATE KEY BLOCK-----")) return "gpg";
  if (/^untrusted comment: .*minisign.*secret key/m.test(key)) return "minisign";
  throw new Error("GOTUNNEL_SIGNING_KEY is neither a minisign secret key nor an armored gpg private key");
}

/** The key's text (GOTUNNEL_SIGNING_KEY may hold the key or a path to it), checked before anything is built. */
export function loadSigningKey(keyOrPath: string): { key: string; kind: SigningKind } {
  const key = existsSync(keyOrPath) ? readFileSync(keyOrPath, "utf8") : keyOrPath;
  const kind = signingKeyKind(key);
  if (!Bun.which(kind)) throw new Error(`GOTUNNEL_SIGNING_KEY is a ${kind} key but ${kind} is not installed`);
  return { key, kind };
}

async function tool(argv: string[], stdin = ""): Promise<void> {
  if (!Bun.which(argv[0]!)) throw new Error(`${argv[0]} is not installed (apt-get install ${argv[0]})`);
  const proc = Bun.spawn(argv, { stdin: new Blob([stdin]), stdout: "pipe", stderr: "pipe" });
  const [output, errors, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (exitCode !== 0) throw new Error(`${argv.slice(0, 2).join(" ")} failed (exit ${exitCode}): ${output}${errors}`);
}

/**
 * Writes a detached signature next to checksums.txt and verifies it with the key's public half. The key only ever
 * touches a private temp dir (0700), removed afterwards; gpg gets a throwaway home so no keyring is read or changed.
 */
export async function signChecksums(checksums: string, keyOrPath: string, password = "", version = "") {
  const { key, kind } = loadSigningKey(keyOrPath);
  const work = mkdtempSync(join(tmpdir(), "gotunnel-sign-"));
  chmodSync(work, 0o700);
  const keyFile = join(work, "key");
  writeFileSync(keyFile, key, { mode: 0o600 });
  const secret = password ? `${password}\n` : "";
  try {
    if (kind === "minisign") {
      const signature = `${checksums}.minisig`;
      const comment = `gotunnel ${version ? `v${version} ` : ""}${CHECKSUMS_FILE}`;
      await tool(["minisign", "-S", "-s", keyFile, "-m", checksums, "-x", signature, "-t", comment], secret);
      await tool(["minisign", "-R", "-s", keyFile, "-p", join(work, "key.pub")], secret);
      await tool(["minisign", "-V", "-q", "-p", join(work, "key.pub"), "-m", checksums, "-x", signature]);
      return signature;
    }
    const home = join(work, "gnupg");
    mkdirSync(home, { mode: 0o700 });
    const gpg = ["gpg", "--homedir", home, "--batch", "--yes"];
    const signature = `${checksums}.sig`;
    try {
      await tool([...gpg, "--import", keyFile]);
      const loopback = ["--pinentry-mode", "loopback", "--passphrase-fd", "0"];
      await tool([...gpg, ...loopback, "--detach-sign", "--output", signature, checksums], secret);
      await tool([...gpg, "--verify", signature, checksums]);
    } finally {
      // gpg started an agent for this throwaway home: stop it rather than leave it running.
      Bun.spawnSync(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], { stdout: "ignore", stderr: "ignore" });
    }
    return signature;
  } finally {
    await removeKeyDir(work);
  }
}

/**
 * The work dir holds a copy of the signing key (and gpg's private-keys-v1.d), so it must be gone afterwards. A
 * gpg-agent that is still shutting down can write into its home after gpgconf returns: check, and retry briefly.
 */
async function removeKeyDir(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 20 && existsSync(dir); attempt++) {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    if (existsSync(dir)) await Bun.sleep(100);
  }
  if (existsSync(dir)) throw new Error(`could not remove ${dir}, which holds a copy of the signing key: delete it`);
}

function printSizes(dir: string, built: Map<string, Built>): void {
  const rows = readdirSync(dir)
    .sort()
    .map((file) => {
      const size = statSync(join(dir, file)).size;
      const info = [...built.values()].find((entry) => entry.file === file);
      const note = info ? (info.bytecode ? "bytecode" : "NO bytecode") : "";
      return `  ${file.padEnd(40)} ${(size / MIB).toFixed(1).padStart(7)} MiB  ${note}`;
    });
  console.log(`\n${dir}\n${rows.join("\n")}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      targets: { type: "string" },
      out: { type: "string", default: "dist/release" },
      version: { type: "string" },
      deb: { type: "boolean", default: false },
    },
  });
  const version = assertVersion((values.version ?? process.env.GOTUNNEL_VERSION ?? pkg.version).replace(/^v/, ""));
  // A bad signing key should stop the release before minutes of compiling, not after.
  const signingKey = process.env.GOTUNNEL_SIGNING_KEY;
  if (signingKey) loadSigningKey(signingKey);
  const targets = values.targets ? values.targets.split(",").map((name) => findTarget(name.trim())) : RELEASE_TARGETS;
  const out = resolve(ROOT, values.out!);
  // Next to the release dir, never inside it: dist/release → dist/sourcemaps.
  const maps = join(out, "..", "sourcemaps");
  cleanReleaseDir(out);
  mkdirSync(maps, { recursive: true });
  const env = {
    ...process.env,
    GOTUNNEL_VERSION: version,
    SOURCE_DATE_EPOCH: process.env.SOURCE_DATE_EPOCH ?? sourceDateEpoch(),
  };

  const built = new Map<string, Built>();
  for (const target of targets) {
    const file = binaryName(version, target);
    const outfile = join(out, file);
    const started = performance.now();
    const bytecode = await buildTarget(target, outfile, env);
    // scripts/build.ts leaves every chunk's map in `<outfile>.maps/`.
    if (existsSync(`${outfile}.maps`)) renameSync(`${outfile}.maps`, join(maps, `${file}.maps`));
    built.set(target.name, { file, bytecode });
    console.log(`built ${file} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }

  copyFileSync(join(ROOT, "install.sh"), join(out, "install.sh"));
  chmodSync(join(out, "install.sh"), 0o755);
  if (values.deb) {
    for (const [name, arch] of Object.entries(DEB_ARCH)) {
      const entry = built.get(name);
      if (entry) console.log(`built ${await buildDeb(join(out, entry.file), version, arch, out)}`);
    }
  }

  const checksums = await writeChecksums(out);
  console.log(`wrote ${checksums}`);
  if (signingKey) {
    const signature = await signChecksums(checksums, signingKey, process.env.GOTUNNEL_SIGNING_PASSWORD, version);
    console.log(`signed: ${signature}`);
  }
  printSizes(out, built);
  const skipped = [...built.values()].filter((entry) => !entry.bytecode);
  if (skipped.length > 0) console.warn(`without bytecode: ${skipped.map((entry) => entry.file).join(", ")}`);
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    console.error(`build:all: ${(error as Error).message}`);
    process.exit(1);
  });
}
