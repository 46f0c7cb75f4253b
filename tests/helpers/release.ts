/**
 * Release fixtures for the installer tests: release dirs made the way build:all makes them (names from
 * scripts/release.ts, checksums.txt in sha256sum format), a loopback HTTP server that serves them like GitHub
 * Releases does, and a runner for install.sh with a clean environment (so nothing of the developer's GOTUNNEL_*,
 * XDG_* or PATH order leaks in).
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { delimiter, join } from "node:path";
import {
  CHECKSUMS_FILE,
  findTarget,
  formatChecksums,
  binaryName as releaseBinaryName,
  sha256File,
} from "../../scripts/release.ts";
import { REPO_ROOT, type RunResult, run } from "./e2e.ts";

export const INSTALL_SH = join(REPO_ROOT, "install.sh");

/** The release target this machine runs, as install.sh will detect it (glibc assumed on Linux). */
export function hostTarget(): string {
  const os = { linux: "linux", darwin: "darwin", win32: "windows" }[process.platform as string];
  const arch = { x64: "x64", arm64: "arm64" }[process.arch as string];
  if (!os || !arch) throw new Error(`no release target for ${process.platform}-${process.arch}`);
  return `${os}-${arch}`;
}

export function releaseFileName(version: string, target = hostTarget()): string {
  return releaseBinaryName(version, findTarget(target));
}

/** Writes checksums.txt over every file in `dir` (what build:all does) and returns the entries. */
export async function writeReleaseChecksums(dir: string): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  for (const file of readdirSync(dir)) {
    if (!file.startsWith(CHECKSUMS_FILE)) entries.set(file, await sha256File(join(dir, file)));
  }
  writeFileSync(join(dir, CHECKSUMS_FILE), formatChecksums(entries));
  return entries;
}

/**
 * A release dir holding `binary` under its release name plus checksums.txt. The binary is symlinked, not copied:
 * ~100 MB per scenario adds up, and the server follows the link like any file.
 */
export async function makeRelease(dir: string, version: string, binary: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const file = releaseFileName(version);
  symlinkSync(binary, join(dir, file));
  await writeReleaseChecksums(dir);
  return join(dir, file);
}

/** Copies `from` to `to`, then flips the last byte: same size, different hash. */
export function tamperedCopy(from: string, to: string): void {
  copyFileSync(from, to);
  const bytes = readFileSync(to);
  bytes[bytes.length - 1] = (bytes[bytes.length - 1]! + 1) % 256;
  writeFileSync(to, bytes);
}

/** Serves `root` read-only on 127.0.0.1, like a GitHub release download URL: flat files, 404 otherwise. */
export function serveReleases(root: string) {
  const requests: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const path = decodeURIComponent(new URL(request.url).pathname);
      requests.push(path);
      // Only <scenario>/<file>, no dot segments: the test server must not become a way out of `root`.
      const parts = path.split("/").filter(Boolean);
      if (parts.length !== 2 || parts.some((part) => part.startsWith("."))) return new Response("no", { status: 404 });
      const file = join(root, parts[0]!, parts[1]!);
      return existsSync(file) ? new Response(Bun.file(file)) : new Response("not found", { status: 404 });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, requests, stop: () => server.stop(true) };
}

/**
 * A PATH holding every program of the current PATH except `without` (symlinks in `dir`), to run install.sh on a
 * machine that lacks curl, sha256sum and so on.
 */
export function pathWithout(without: string[], dir: string): string {
  mkdirSync(dir, { recursive: true });
  for (const entry of (process.env.PATH ?? "/usr/bin:/bin").split(delimiter)) {
    if (!existsSync(entry)) continue;
    for (const name of readdirSync(entry)) {
      if (without.includes(name) || existsSync(join(dir, name))) continue;
      symlinkSync(join(entry, name), join(dir, name));
    }
  }
  return dir;
}

export interface InstallerEnv {
  home: string;
  /** Base URL of the release files (GOTUNNEL_DOWNLOAD_URL). */
  url?: string;
  env?: Record<string, string>;
}

export function runInstaller(args: string[], options: InstallerEnv): Promise<RunResult> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: options.home,
    SHELL: "/bin/bash",
    ...(options.url ? { GOTUNNEL_DOWNLOAD_URL: options.url } : {}),
    ...options.env,
  };
  return run(["sh", INSTALL_SH, ...args], { env, timeoutMs: 120_000 });
}

/** Names in `dir` (an install dir must hold `gotunnel` and nothing else: no staging leftovers). */
export function listDir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

export function describeRun(result: RunResult): string {
  return `exit ${result.exitCode}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
}

/** A minisign key pair without a password in `dir`; returns the secret key's path and the public key string. */
export async function makeMinisignKey(dir: string, name: string): Promise<{ secretKey: string; publicKey: string }> {
  const secretKey = join(dir, `${name}.key`);
  const pub = join(dir, `${name}.pub`);
  const result = await run(["minisign", "-G", "-W", "-p", pub, "-s", secretKey]);
  if (result.exitCode !== 0) throw new Error(`minisign -G failed\n${describeRun(result)}`);
  return { secretKey, publicKey: readFileSync(pub, "utf8").trim().split("\n").pop()! };
}

/** An ed25519 gpg key made in its own throwaway home `dir`; returns the armored secret key and a public key file. */
export async function makeGpgKey(dir: string, name: string): Promise<{ secretKey: string; publicKeyFile: string }> {
  const params = join(dir, "params");
  const uid = `gotunnel test ${name} <${name}@gotunnel.invalid>`;
  writeFileSync(
    params,
    `%no-protection\nKey-Type: EDDSA\nKey-Curve: ed25519\nName-Real: ${uid}\nExpire-Date: 0\n%commit\n`,
  );
  const gpg = ["gpg", "--homedir", dir, "--batch", "--quiet"];
  try {
    const made = await run([...gpg, "--gen-key", params]);
    if (made.exitCode !== 0) throw new Error(`gpg --gen-key failed\n${describeRun(made)}`);
    const secretKey = (await run([...gpg, "--armor", "--export-secret-keys"])).stdout;
    const publicKeyFile = join(dir, "public.asc");
    writeFileSync(publicKeyFile, (await run([...gpg, "--armor", "--export"])).stdout);
    return { secretKey, publicKeyFile };
  } finally {
    // gpg started an agent for this home; stop it rather than leave it behind.
    await run(["gpgconf", "--homedir", dir, "--kill", "gpg-agent"]);
  }
}

/** build:all compiles one target (the whole Bun runtime is written out); generous on a shared 2-core machine. */
export const SCENARIOS_TIMEOUT_MS = 240_000;

export interface ScenarioOptions {
  /** The served root: each scenario is a subdirectory, i.e. one GOTUNNEL_DOWNLOAD_URL. */
  root: string;
  binary: string;
  v1: string;
  v2: string;
  scratch: string;
}

/**
 * The release dirs the installer test serves:
 *   v1                  `binary` as version v1
 *   v2                  made by the real pipeline: build:all for this host (version v2, install.sh, checksums.txt)
 *   both                v1 and v2 side by side, like a mirror holding several releases
 *   tampered-binary     v1's checksums.txt, but one byte of the binary changed
 *   tampered-checksums  the right binary, but every hash in checksums.txt changed
 *   missing-entry       checksums.txt lists only another platform
 *   broken              a "binary" whose checksum is right but which exits 3 when run
 */
export async function makeInstallerScenarios(options: ScenarioOptions): Promise<void> {
  const { root, binary, v1, v2, scratch } = options;
  const release = (name: string, file = binary) => makeRelease(join(root, name), v1, file).then(() => join(root, name));
  await release("v1");
  const out = join(root, "v2");
  const argv = [process.execPath, "scripts/build-all.ts", "--targets", hostTarget(), "--version", v2, "--out", out];
  const env = { PATH: process.env.PATH ?? "", HOME: scratch };
  const built = await run(argv, { cwd: REPO_ROOT, env, timeoutMs: SCENARIOS_TIMEOUT_MS });
  if (built.exitCode !== 0) throw new Error(`build:all failed\n${describeRun(built)}`);

  const both = await release("both");
  symlinkSync(join(out, releaseFileName(v2)), join(both, releaseFileName(v2)));
  await writeReleaseChecksums(both);

  const badBinary = await release("tampered-binary");
  rmSync(join(badBinary, releaseFileName(v1)));
  tamperedCopy(binary, join(badBinary, releaseFileName(v1)));

  const badSums = await release("tampered-checksums");
  const sums = readFileSync(join(badSums, CHECKSUMS_FILE), "utf8");
  writeFileSync(
    join(badSums, CHECKSUMS_FILE),
    sums.replace(/^./gm, (c) => (c === "0" ? "1" : "0")),
  );

  const missing = await release("missing-entry");
  const target = hostTarget();
  const other = target.endsWith("arm64") ? target.replace("arm64", "x64") : target.replace("x64", "arm64");
  writeFileSync(join(missing, CHECKSUMS_FILE), `${await sha256File(binary)}  ${releaseFileName(v1, other)}\n`);

  const script = join(scratch, "not-a-gotunnel");
  writeFileSync(script, "#!/bin/sh\necho 'cannot run here' >&2\nexit 3\n", { mode: 0o755 });
  await release("broken", script);
}
