/**
 * install.sh end to end: real release dirs (dist/gotunnel under its release name, and one made by build:all), served
 * from a loopback Bun.serve like GitHub Releases, installed into temp dirs with a temp HOME. Every refusal must leave
 * the install dir exactly as it was. Platform branches run through install.sh's GOTUNNEL_TEST_* overrides, and the
 * real probes (ldd, sysctl) through fake programs on PATH.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { signChecksums } from "../../scripts/build-all.ts";
import { sha256File } from "../../scripts/release.ts";
import { BINARY as BUILT, E2EScope, REPO_ROOT, requireBinary, run } from "../helpers/e2e.ts";
import {
  describeRun,
  hostTarget,
  INSTALL_SH,
  listDir,
  makeGpgKey,
  makeInstallerScenarios,
  makeMinisignKey,
  makeRelease,
  pathWithout,
  runInstaller,
  SCENARIOS_TIMEOUT_MS,
  serveReleases,
} from "../helpers/release.ts";

const V2 = "9.9.9-e2e";
/** Each install copies a ~100 MB binary a few times; the .deb test compresses one. Never a speed assertion. */
setDefaultTimeout(150_000);
const has = (tool: string) => Bun.which(tool) !== null;
/** Names a test that is skipped when `tool` is missing so the report says why. */
const needs = (tool: string, name: string) => (has(tool) ? name : `${name} — SKIPPED: ${tool} is not installed`);

const scope = new E2EScope();
const target = hostTarget();
let url = "";
let releases = "";
let v1 = "";
/** A private copy of dist/gotunnel: other work in the tree may rebuild dist/ while this file runs. */
let BINARY = "";

/** One more release dir under the served root (for the signature tests). */
async function scenario(name: string): Promise<string> {
  const dir = join(releases, name);
  await makeRelease(dir, v1, BINARY);
  return dir;
}

beforeAll(async () => {
  requireBinary();
  BINARY = join(scope.dir("binary"), "gotunnel");
  copyFileSync(BUILT, BINARY);
  chmodSync(BINARY, 0o755);
  v1 = (await run([BINARY, "--version"])).stdout.trim();
  releases = scope.dir("releases");
  const server = serveReleases(releases);
  scope.defer(server.stop);
  url = server.url;
  await makeInstallerScenarios({ root: releases, binary: BINARY, v1, v2: V2, scratch: scope.dir("scratch") });
}, SCENARIOS_TIMEOUT_MS);

afterAll(() => scope.dispose());

/** A temp HOME and an install dir inside it that does not exist yet. */
function place() {
  const home = scope.dir("home");
  const dir = join(home, "bin");
  const install = (from: string, env: Record<string, string> = {}, args: string[] = []) =>
    runInstaller(["--install-dir", dir, ...args], { home, url: `${url}/${from}`, env });
  return { home, dir, bin: join(dir, "gotunnel"), install };
}

describe.skipIf(process.platform === "win32")("install.sh", () => {
  test("installs the latest release, verified, into --install-dir; the binary runs; PATH hint for the shell", async () => {
    const { dir, bin, install } = place();
    const result = await install("v1");
    expect(result.exitCode, describeRun(result)).toBe(0);
    expect(result.stdout).toContain(`gotunnel v${v1} (${target}) verified (sha256) → ${bin}`);
    expect(result.stdout).toContain(`echo 'export PATH="${dir}:$PATH"' >> ~/.bashrc`);
    expect(listDir(dir)).toEqual(["gotunnel"]);
    expect((await run([bin, "version"])).stdout).toContain(`gotunnel ${v1} `);
    expect(await sha256File(bin)).toBe(await sha256File(BINARY));
  });

  test("GOTUNNEL_INSTALL_DIR works, and fish users get fish_add_path", async () => {
    const { home, dir, bin } = place();
    const env = { GOTUNNEL_INSTALL_DIR: dir, SHELL: "/usr/bin/fish" };
    const result = await runInstaller([], { home, url: `${url}/v1`, env });
    expect(result.exitCode, describeRun(result)).toBe(0);
    expect(result.stdout).toContain(`→ ${bin}`);
    expect(result.stdout).toContain(`fish_add_path ${dir}`);
  });

  test("upgrades in place: a new file (rename, not overwrite) with the new version", async () => {
    const { dir, bin, install } = place();
    expect((await install("v1")).exitCode).toBe(0);
    const before = statSync(bin).ino;
    const result = await install("v2");
    expect(result.exitCode, describeRun(result)).toBe(0);
    expect(result.stdout).toContain(`gotunnel v${V2} (${target}) verified (sha256) → ${bin}`);
    expect(result.stdout).toContain(`replaced the previous gotunnel (${v1})`);
    expect(statSync(bin).ino).not.toBe(before);
    expect(listDir(dir)).toEqual(["gotunnel"]);
    expect((await run([bin, "version"])).stdout).toContain(`gotunnel ${V2} `);
  });

  test("--version picks one release from a mirror holding two; without it the choice is refused", async () => {
    const { bin, install } = place();
    const picked = await install("both", {}, ["--version", `v${v1}`]);
    expect(picked.exitCode, describeRun(picked)).toBe(0);
    expect((await run([bin, "--version"])).stdout.trim()).toBe(v1);
    const ambiguous = await install("both");
    expect(ambiguous.exitCode).not.toBe(0);
    expect(ambiguous.stderr).toContain(`more than one binary for ${target}`);
  });

  const refusals: [string, string, RegExp][] = [
    ["a tampered binary", "tampered-binary", /SHA-256 mismatch for gotunnel-.*Nothing was installed/],
    ["a tampered checksums.txt", "tampered-checksums", /SHA-256 mismatch for gotunnel-.*Nothing was installed/],
    ["a checksums.txt without this platform", "missing-entry", /no entry for gotunnel on .*Nothing was installed/],
    ["a binary that does not run here", "broken", /does not run on this machine\. Nothing was installed/],
  ];
  test.each(refusals)(
    "refuses %s: an empty dir stays empty, an installed binary byte-identical",
    async (_, from, why) => {
      const { dir, bin, install } = place();
      const fresh = await install(from);
      expect(fresh.exitCode, describeRun(fresh)).toBe(1);
      expect(fresh.stderr).toMatch(why);
      expect(listDir(dir)).toEqual([]);
      expect((await install("v1")).exitCode).toBe(0);
      const over = await install(from);
      expect(over.exitCode, describeRun(over)).toBe(1);
      expect(listDir(dir)).toEqual(["gotunnel"]);
      expect(await sha256File(bin)).toBe(await sha256File(BINARY));
    },
  );

  test("uninstall removes the binary, keeps and lists gotunnel's data dirs", async () => {
    const { home, dir, bin, install } = place();
    expect((await install("v1")).exitCode).toBe(0);
    const data = join(home, ".local", "share", "gotunnel");
    const config = join(home, ".config", "gotunnel");
    for (const path of [data, config]) mkdirSync(path, { recursive: true });
    const env = { GOTUNNEL_TEST_UNAME_S: "Linux" };
    const result = await runInstaller(["--uninstall", "--install-dir", dir], { home, env });
    expect(result.exitCode, describeRun(result)).toBe(0);
    expect(result.stdout).toContain(`removed ${bin}`);
    expect(result.stdout).toContain(`rm -rf "${data}"`);
    expect(result.stdout).toContain(`rm -rf "${config}"`);
    expect(listDir(dir)).toEqual([]);
    expect(statSync(data).isDirectory()).toBe(true);
    const again = await runInstaller(["--uninstall", "--install-dir", dir], { home });
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain("gotunnel is not installed in");
  });

  test("uninstall names `gotunnel untrust` only for a gotunnel that has it", async () => {
    const { home, dir, bin } = place();
    const uninstall = async (help: string) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(bin, `#!/bin/sh\necho 'USAGE gotunnel ${help}'\n`, { mode: 0o755 });
      return (await runInstaller(["--uninstall", "--install-dir", dir], { home })).stdout;
    };
    expect(await uninstall("up|ca|trust|untrust")).toContain("run 'gotunnel untrust'");
    expect(await uninstall("up|ca|version")).toContain("This gotunnel never added its CA to a trust store");
    expect(listDir(dir)).toEqual([]);
  });

  const uname = (s: string, m: string, extra: Record<string, string> = {}) => ({
    GOTUNNEL_TEST_UNAME_S: s,
    GOTUNNEL_TEST_UNAME_M: m,
    ...extra,
  });
  const platforms: [string, string, Record<string, string>][] = [
    ["Linux x86_64 glibc", "linux-x64", uname("Linux", "x86_64", { GOTUNNEL_TEST_LIBC: "glibc" })],
    ["Linux amd64 musl", "linux-x64-musl", uname("Linux", "amd64", { GOTUNNEL_TEST_LIBC: "musl" })],
    ["Linux aarch64 glibc", "linux-arm64", uname("Linux", "aarch64", { GOTUNNEL_TEST_LIBC: "glibc" })],
    ["macOS arm64", "darwin-arm64", uname("Darwin", "arm64")],
    ["macOS x86_64", "darwin-x64", uname("Darwin", "x86_64", { GOTUNNEL_TEST_ROSETTA: "0" })],
    ["macOS x86_64 under Rosetta", "darwin-arm64", uname("Darwin", "x86_64", { GOTUNNEL_TEST_ROSETTA: "1" })],
  ];
  test.each(platforms)("detects %s as %s and builds the --version URLs", async (_, expected, env) => {
    const { dir, install } = place();
    const result = await install("unused", { ...env, GOTUNNEL_DOWNLOAD_URL: "" }, ["--dry-run", "--version", "v1.2.3"]);
    expect(result.exitCode, describeRun(result)).toBe(0);
    expect(result.stdout).toContain(`platform: ${expected}\n`);
    const base = "https://github.com/gotunnel/gotunnel/releases/download/v1.2.3";
    expect(result.stdout).toContain(`binary: ${base}/gotunnel-1.2.3-${expected}\n`);
    expect(listDir(dir)).toEqual([]);
  });

  test("without --version the latest release is used; GOTUNNEL_REPO picks the repository", async () => {
    const { install } = place();
    const result = await install("unused", { GOTUNNEL_DOWNLOAD_URL: "", GOTUNNEL_REPO: "acme/tunnel" }, ["--dry-run"]);
    expect(result.stdout).toContain(
      "checksums: https://github.com/acme/tunnel/releases/latest/download/checksums.txt\n",
    );
  });

  test("the real probes: ldd saying musl picks the musl build; sysctl reporting Rosetta picks arm64", async () => {
    const fakes = scope.dir("fakes");
    writeFileSync(join(fakes, "ldd"), "#!/bin/sh\necho 'musl libc (x86_64)' >&2\nexit 1\n", { mode: 0o755 });
    writeFileSync(join(fakes, "sysctl"), "#!/bin/sh\necho 1\n", { mode: 0o755 });
    const PATH = `${fakes}:${process.env.PATH}`;
    const { install } = place();
    const musl = await install("v1", { PATH, ...uname("Linux", "x86_64") }, ["--dry-run"]);
    expect(musl.stdout).toContain("platform: linux-x64-musl\n");
    const rosetta = await install("v1", { PATH, ...uname("Darwin", "x86_64") }, ["--dry-run"]);
    expect(rosetta.stdout).toContain("platform: darwin-arm64\n");
  });

  const unsupported: [string, Record<string, string>, RegExp][] = [
    ["FreeBSD", uname("FreeBSD", "amd64"), /no build for FreeBSD\.\n {2}Supported: Linux .* and macOS/],
    ["Windows (Git Bash)", uname("MINGW64_NT-10.0", "x86_64"), /for Linux and macOS\.\n {2}On Windows: scoop/],
    ["Linux i686", uname("Linux", "i686"), /no build for Linux on i686/],
    ["musl on arm64", uname("Linux", "aarch64", { GOTUNNEL_TEST_LIBC: "musl" }), /no build for musl on aarch64/],
  ];
  test.each(unsupported)("refuses %s with a clear message and exit 1", async (_, env, message) => {
    const { dir, install } = place();
    const result = await install("v1", env);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(listDir(dir)).toEqual([]);
  });

  test.skipIf(!has("wget"))(needs("wget", "works with wget and shasum instead of curl and sha256sum"), async () => {
    const { install } = place();
    const viaWget = await install("v1", { PATH: pathWithout(["curl", "sha256sum"], scope.dir("path-wget")) });
    expect(viaWget.exitCode, describeRun(viaWget)).toBe(0);
  });

  test("works with openssl alone for SHA-256; without curl and wget it says so", async () => {
    const { bin, install } = place();
    const viaOpenssl = await install("v2", { PATH: pathWithout(["sha256sum", "shasum"], scope.dir("path-openssl")) });
    expect(viaOpenssl.exitCode, describeRun(viaOpenssl)).toBe(0);
    expect((await run([bin, "--version"])).stdout.trim()).toBe(V2);
    const none = await install("v1", { PATH: pathWithout(["curl", "wget"], scope.dir("path-bare")) });
    expect(none.stderr).toContain("neither curl nor wget is installed");
    expect(none.exitCode).toBe(1);
  });

  test.skipIf(!has("shellcheck"))(needs("shellcheck", "shellcheck passes on install.sh and build-deb.sh"), async () => {
    const result = await run(["shellcheck", INSTALL_SH, join(REPO_ROOT, "packaging", "deb", "build-deb.sh")]);
    expect(result.exitCode, result.stdout).toBe(0);
  });
});

describe.skipIf(process.platform === "win32")("signatures", () => {
  test.skipIf(!has("minisign"))(
    needs("minisign", "minisign: the right key installs, all else is refused"),
    async () => {
      const keys = scope.dir("minisign");
      const good = await makeMinisignKey(keys, "good");
      const wrong = await makeMinisignKey(keys, "wrong");
      const release = await scenario("signed-minisign");
      await signChecksums(join(release, "checksums.txt"), good.secretKey, "", v1);
      const { dir, bin, install } = place();
      const withKey = (key: string, extra: Record<string, string> = {}) => ({
        GOTUNNEL_MINISIGN_PUBKEY: key,
        ...extra,
      });

      const ok = await install("signed-minisign", withKey(good.publicKey));
      expect(ok.exitCode, describeRun(ok)).toBe(0);
      expect(ok.stdout).toContain(`verified (sha256, minisign) → ${bin}`);
      rmSync(bin);
      const wrongKey = await install("signed-minisign", withKey(wrong.publicKey));
      expect(wrongKey.stderr).toContain("minisign signature of checksums.txt does not verify. Nothing was installed.");
      const unsigned = await install("v1", withKey(good.publicKey));
      expect(unsigned.stderr).toContain("download failed");
      const noTool = { PATH: pathWithout(["minisign"], scope.dir("path")) };
      expect((await install("signed-minisign", withKey(good.publicKey, noTool))).stderr).toContain(
        "GOTUNNEL_MINISIGN_PUBKEY is set but minisign is not installed",
      );
      // Signed, then edited: one added line is enough.
      writeFileSync(join(release, "checksums.txt"), `${readFileSync(join(release, "checksums.txt"), "utf8")}\n`);
      expect((await install("signed-minisign", withKey(good.publicKey))).stderr).toContain("does not verify");
      expect(listDir(dir)).toEqual([]);
    },
  );

  test.skipIf(!has("gpg"))(needs("gpg", "gpg: the configured key installs, another key is refused"), async () => {
    const good = await makeGpgKey(scope.dir("gnupg-good"), "good");
    const other = await makeGpgKey(scope.dir("gnupg-other"), "other");
    const release = await scenario("signed-gpg");
    await signChecksums(join(release, "checksums.txt"), good.secretKey, "", v1);
    const { dir, bin, install } = place();
    const wrong = await install("signed-gpg", { GOTUNNEL_GPG_PUBKEY: other.publicKeyFile });
    expect(wrong.stderr).toContain("gpg signature of checksums.txt does not verify. Nothing was installed.");
    expect(listDir(dir)).toEqual([]);
    const ok = await install("signed-gpg", { GOTUNNEL_GPG_PUBKEY: good.publicKeyFile });
    expect(ok.exitCode, describeRun(ok)).toBe(0);
    expect(ok.stdout).toContain(`verified (sha256, gpg) → ${bin}`);
  });
});

describe.skipIf(!has("dpkg-deb"))(needs("dpkg-deb", "packaging/deb/build-deb.sh"), () => {
  test("wraps the binary in gotunnel_<version>_<arch>.deb that installs a working /usr/bin/gotunnel", async () => {
    const out = scope.dir("deb");
    const script = join(REPO_ROOT, "packaging", "deb", "build-deb.sh");
    const env = { PATH: process.env.PATH ?? "", GOTUNNEL_DEB_COMPRESSION: "gzip" };
    const built = await run(["sh", script, BINARY, "1.2.3-rc.1", "amd64", out], { env, timeoutMs: 120_000 });
    expect(built.exitCode, describeRun(built)).toBe(0);
    const deb = join(out, "gotunnel_1.2.3-rc.1_amd64.deb");
    expect(built.stdout.trim()).toBe(deb);
    const control = (await run(["dpkg-deb", "--field", deb, "Package", "Version", "Architecture", "Depends"])).stdout;
    expect(control).toMatch(
      /Package: gotunnel\nVersion: 1\.2\.3~rc\.1\nArchitecture: amd64\nDepends: libc6 \(>= 2\.\d+\)/,
    );
    const root = scope.dir("deb-root");
    expect((await run(["dpkg-deb", "-x", deb, root])).exitCode).toBe(0);
    expect((await run([join(root, "usr", "bin", "gotunnel"), "--version"])).stdout.trim()).toBe(v1);
  });
});
