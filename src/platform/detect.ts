/**
 * Which OS this is, in the detail the trust stores need: the Linux distribution family (from os-release), WSL, and
 * the package-manager command that installs a missing tool. Pure parsing plus one injectable file reader.
 */
import { readFileSync } from "node:fs";

/** Distribution families that share a CA-trust layout and a package manager. */
export type LinuxFamily = "debian" | "fedora" | "arch" | "suse" | "alpine" | "unknown";

export interface OsInfo {
  platform: NodeJS.Platform;
  /** "unknown" on other platforms and on distributions we do not recognise. */
  family: LinuxFamily;
  /** PRETTY_NAME (or ID) from os-release, for messages; undefined off Linux. */
  distro: string | undefined;
  /** Linux running under Windows Subsystem for Linux (1 or 2): the Windows store is reachable too. */
  wsl: boolean;
}

export interface DetectOptions {
  /** Passed in by the one module that reads process.platform (tls/truststore/index.ts). */
  platform: NodeJS.Platform;
  env?: Record<string, string | undefined>;
  /** File reader seam; undefined when the file does not exist. */
  readText?: (path: string) => string | undefined;
}

/** os-release(5): /etc/os-release, falling back to /usr/lib/os-release. */
const OS_RELEASE_FILES = ["/etc/os-release", "/usr/lib/os-release"];
/** WSL kernels say so in their release string: "4.4.0-19041-Microsoft" (WSL 1), "5.15.x-microsoft-standard-WSL2". */
const KERNEL_RELEASE_FILE = "/proc/sys/kernel/osrelease";

/** IDs (ID, then each ID_LIKE word) mapped to a family; ID_LIKE makes derivatives (Mint, Rocky, Manjaro) work. */
const FAMILY_BY_ID: Record<string, LinuxFamily> = {
  debian: "debian",
  ubuntu: "debian",
  fedora: "fedora",
  rhel: "fedora",
  centos: "fedora",
  amzn: "fedora",
  arch: "arch",
  suse: "suse",
  opensuse: "suse",
  "opensuse-leap": "suse",
  "opensuse-tumbleweed": "suse",
  sles: "suse",
  alpine: "alpine",
};

/** How each family installs a package; macOS uses Homebrew (what NSS's certutil needs there). */
const INSTALL_PREFIX: Partial<Record<LinuxFamily | "darwin", string>> = {
  debian: "sudo apt install",
  fedora: "sudo dnf install",
  arch: "sudo pacman -S",
  suse: "sudo zypper install",
  alpine: "sudo apk add",
  darwin: "brew install",
};

export function readTextFile(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw error;
  }
}

/** KEY=value lines; values may be double- or single-quoted (os-release(5) follows shell quoting). */
export function parseOsRelease(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!match) continue;
    const raw = match[2]!;
    const quoted = /^(["'])(.*)\1$/.exec(raw);
    fields[match[1]!] = quoted ? quoted[2]!.replace(/\\(["\\`$])/g, "$1") : raw;
  }
  return fields;
}

export function linuxFamily(fields: Record<string, string>): LinuxFamily {
  const ids = [fields.ID ?? "", ...(fields.ID_LIKE ?? "").split(/\s+/)].map((id) => id.toLowerCase());
  for (const id of ids) {
    const family = FAMILY_BY_ID[id];
    if (family) return family;
  }
  return "unknown";
}

export function isWsl(kernelRelease: string | undefined, env: Record<string, string | undefined>): boolean {
  if (env.WSL_DISTRO_NAME || env.WSL_INTEROP) return true;
  return /microsoft|wsl/i.test(kernelRelease ?? "");
}

export function detectOs(options: DetectOptions): OsInfo {
  const platform = options.platform;
  if (platform !== "linux") return { platform, family: "unknown", distro: undefined, wsl: false };
  const read = options.readText ?? readTextFile;
  const text = OS_RELEASE_FILES.map((path) => read(path)).find((found) => found !== undefined) ?? "";
  const fields = parseOsRelease(text);
  return {
    platform,
    family: linuxFamily(fields),
    distro: fields.PRETTY_NAME ?? fields.ID,
    wsl: isWsl(read(KERNEL_RELEASE_FILE), options.env ?? process.env),
  };
}

/**
 * The command that installs `packages` (per family) on this OS, e.g. `sudo apt install libnss3-tools`; undefined
 * when we do not know the package manager or the package name there.
 */
export function installCommand(
  os: OsInfo,
  packages: Partial<Record<LinuxFamily | "darwin", string>>,
): string | undefined {
  const key = os.platform === "darwin" ? "darwin" : os.family;
  const prefix = INSTALL_PREFIX[key];
  const name = packages[key];
  return prefix && name ? `${prefix} ${name}` : undefined;
}
