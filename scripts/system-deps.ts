/**
 * The system programs the tests drive, and the Debian package that brings each: the one list that `scripts/test.ts`
 * installs from (as root, with apt-get; `.ci/run` runs it) and that tests/helpers/tools.ts names in skip reasons.
 * A test that needs a program not listed here cannot say how to get it: add the program here first.
 *
 * `bun scripts/system-deps.ts` lists what is missing; `--install` installs it when it can.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** command → Debian package. */
export const TOOL_PACKAGES: Readonly<Record<string, string>> = {
  curl: "curl",
  openssl: "openssl",
  wrk: "wrk",
  promtool: "prometheus",
  getent: "libc-bin",
  unshare: "util-linux",
  nsenter: "util-linux",
  mount: "util-linux",
  runuser: "util-linux",
  sudo: "sudo",
  useradd: "passwd",
  setpriv: "util-linux",
  perl: "perl-base",
  ip: "iproute2",
  ss: "iproute2",
  certutil: "libnss3-tools",
  chromium: "chromium",
  "firefox-esr": "firefox-esr",
  nghttp: "nghttp2-client",
  h2load: "nghttp2-client",
  "update-ca-certificates": "ca-certificates",
  keytool: "default-jre-headless",
  java: "default-jre-headless",
  "avahi-daemon": "avahi-daemon",
  "avahi-resolve": "avahi-utils",
  "avahi-browse": "avahi-utils",
  "avahi-publish": "avahi-utils",
  "dbus-daemon": "dbus",
  dig: "dnsutils",
  shellcheck: "shellcheck",
  minisign: "minisign",
  gpg: "gpg",
  gpgconf: "gpgconf",
  wget: "wget",
  "dpkg-deb": "dpkg",
  python3: "python3",
  node: "nodejs",
  file: "file",
  "qemu-aarch64": "qemu-user",
  // A pseudo-terminal for tests of what gotunnel shows on a terminal (colour, progress): `script -qec CMD /dev/null`.
  script: "bsdutils",
  // The shells whose completion scripts tests/e2e/completion.test.ts runs (bash is Debian's own).
  bash: "bash",
  zsh: "zsh",
  fish: "fish",
  // The login service: a real systemd user manager runs the unit (tests/e2e/service-systemd.test.ts).
  systemctl: "systemd",
  "systemd-analyze": "systemd",
  // The rootless daemon's one-time step: cap_net_bind_service on the binary.
  setcap: "libcap2-bin",
  getcap: "libcap2-bin",
  // The optional hosts-file step doctor suggests (an ACL for the user), tested in tests/e2e/rootless.test.ts.
  setfacl: "acl",
  getfacl: "acl",
  // Docker discovery's real engine: Podman's API service (tests/helpers/podman.ts), slirp4netns for its published
  // ports (only Recommended by podman, and the test installs without recommends), and a static busybox to build
  // the test image from (Debian's `busybox` is dynamically linked; both install /bin/busybox).
  podman: "podman",
  slirp4netns: "slirp4netns",
  busybox: "busybox-static",
};

/** Packages with no command to look for: a library or a sysroot, and a file that shows each is there. */
const FILE_PACKAGES: readonly { name: string; present: () => boolean }[] = [
  // nss-mdns: `.local` lookups through getent and curl in the mDNS namespace tests.
  { name: "libnss-mdns", present: () => libraryInstalled("libnss_mdns4_minimal.so.2") },
  // The Python clients `gotunnel run` must reach routes from (tests/e2e/run-names.test.ts), for Debian's python3.
  { name: "python3-requests", present: () => existsSync("/usr/lib/python3/dist-packages/requests") },
  { name: "python3-pytest", present: () => existsSync("/usr/lib/python3/dist-packages/pytest") },
  // The arm64 sysroot qemu runs the cross-built binary with (tests/e2e/cross-arm64.test.ts).
  { name: "libc6-arm64-cross", present: () => existsSync("/usr/aarch64-linux-gnu") },
  // Podman's network stack as tests/helpers/podman.ts was proven with: installed without recommends, podman would
  // otherwise get the first alternative its dependencies name (containernetworking-plugins).
  { name: "netavark", present: () => existsSync("/usr/lib/podman/netavark") },
];

/** In a multiarch library dir (/lib/x86_64-linux-gnu, /lib/aarch64-linux-gnu, …). */
function libraryInstalled(file: string): boolean {
  if (!existsSync("/lib")) return false;
  return readdirSync("/lib", { withFileTypes: true }).some(
    (entry) => entry.isDirectory() && existsSync(join("/lib", entry.name, file)),
  );
}

export function packageOf(tool: string): string | undefined {
  return TOOL_PACKAGES[tool];
}

/** The Debian packages whose program (or file) is not on this machine, sorted, each once. */
export function missingPackages(): string[] {
  const missing = Object.entries(TOOL_PACKAGES)
    .filter(([tool]) => Bun.which(tool) === null)
    .map(([, name]) => name);
  missing.push(...FILE_PACKAGES.filter((item) => !item.present()).map((item) => item.name));
  return [...new Set(missing)].sort();
}

export interface InstallReport {
  /** Packages that were missing before. */
  wanted: string[];
  /** Why nothing was installed (not root, no apt-get, turned off), or why apt-get failed. */
  notInstalled?: string;
}

/** `GOTUNNEL_TEST_INSTALL=0` keeps `npm test` from installing anything, even as root. */
export const INSTALL_ENV = "GOTUNNEL_TEST_INSTALL";

/** Installs the missing packages with apt-get when this process may (root, apt-get present, not turned off). */
export function installMissing(log: (line: string) => void): InstallReport {
  const wanted = missingPackages();
  if (wanted.length === 0) return { wanted };
  const why = whyNotInstall();
  if (why) return { wanted, notInstalled: why };
  log(`installing ${wanted.join(" ")} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  // A stale or missing package list makes install fail; a failed update (offline mirror) may still leave one.
  const update = Bun.spawnSync(["apt-get", "update", "-qq"], { env, stdout: "ignore", stderr: "pipe" });
  if (update.exitCode !== 0) log(`apt-get update failed (continuing): ${update.stderr.toString().trim()}`);
  const failure = aptInstall(wanted, env);
  if (failure === undefined) return { wanted };
  // One package this distribution lacks (Ubuntu has no firefox-esr) fails the whole batch: then one at a time, so
  // the others still arrive and the tests that need the missing one skip with the reason.
  log(`apt-get install of the whole list failed (${failure}); installing one package at a time`);
  const failed = wanted.filter((name) => aptInstall([name], env) !== undefined);
  return failed.length === 0 ? { wanted } : { wanted, notInstalled: `apt-get could not install ${failed.join(", ")}` };
}

/** undefined when apt-get installed `packages`, else the last line it printed on stderr. */
function aptInstall(packages: string[], env: Record<string, string | undefined>): string | undefined {
  const install = Bun.spawnSync(["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...packages], {
    env,
    stdout: "ignore",
    stderr: "pipe",
  });
  return install.exitCode === 0 ? undefined : install.stderr.toString().trim().split("\n").pop() || "no message";
}

function whyNotInstall(): string | undefined {
  if (process.env[INSTALL_ENV] === "0") return `${INSTALL_ENV}=0`;
  if (process.platform !== "linux" || Bun.which("apt-get") === null) return "apt-get is not available";
  if (process.getuid?.() !== 0) return "not root (run as root, or install them yourself)";
  return undefined;
}

if (import.meta.main) {
  if (process.argv.includes("--install")) {
    const report = installMissing((line) => console.log(line));
    if (report.notInstalled) console.log(`not installed (${report.notInstalled}): ${report.wanted.join(" ")}`);
  }
  const missing = missingPackages();
  console.log(
    missing.length === 0 ? "every system package the tests use is installed" : `missing: ${missing.join(" ")}`,
  );
}
