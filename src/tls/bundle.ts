/**
 * Runtime trust for programs that ignore the OS trust store or read one file: a CA bundle (the system roots plus
 * our CA) in the data directory, and the environment variables that point Node, Python, curl, OpenSSL and Deno at
 * it, quoted for each shell. `gotunnel env` prints them; users `eval` the output.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { rootCertificates } from "node:tls";
import { withOwnedDir } from "../platform/safe-fs.ts";

export const CA_BUNDLE_FILE = "ca-bundle.pem";
/** Public certificates only: every program of the user may read it. */
const BUNDLE_FILE_MODE = 0o644;
/** The data dir (created here only when `env` runs before any CA exists) keeps the CA key's directory private. */
const DATA_DIR_MODE = 0o700;

/**
 * Where distributions keep the combined PEM bundle of trusted roots (Debian/Ubuntu/Arch/Alpine, Fedora/RHEL two
 * spellings, openSUSE two spellings, macOS's LibreSSL bundle). The first that exists wins.
 */
export const SYSTEM_BUNDLES = [
  "/etc/ssl/certs/ca-certificates.crt",
  "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
  "/etc/pki/tls/certs/ca-bundle.crt",
  "/var/lib/ca-certificates/ca-bundle.pem",
  "/etc/ssl/ca-bundle.pem",
  "/etc/ssl/cert.pem",
];

/** Where the roots came from when there is no OS bundle (Windows): the Mozilla roots compiled into the runtime. */
export const BUILTIN_ROOTS = "the Mozilla roots built into gotunnel";

export interface BundleOptions {
  caPem: string;
  dataDir: string;
  /** Candidates for the OS bundle, in order (tests point this at fixtures). */
  systemBundles?: readonly string[];
}

export interface WrittenBundle {
  path: string;
  /** The OS bundle the roots were copied from, or BUILTIN_ROOTS. */
  source: string;
}

/** Writes `<dataDir>/ca-bundle.pem` = system roots + our CA (once), atomically; the file is ours to replace. */
export async function writeCaBundle(options: BundleOptions): Promise<WrittenBundle> {
  const source = (options.systemBundles ?? SYSTEM_BUNDLES).find((path) => existsSync(path));
  const roots = source ? readFileSync(source, "utf8") : `${rootCertificates.join("\n")}\n`;
  const ca = options.caPem.trim();
  // After `gotunnel trust` the system bundle already holds our CA; a second copy would be harmless but untidy.
  const body = roots.includes(ca) ? roots : `${roots.trimEnd()}\n${ca}\n`;
  // Under sudo this is root writing in the user's data dir: safe-fs's random temp name and checks (issue 15).
  withOwnedDir(options.dataDir, DATA_DIR_MODE, (dir) => dir.writeAtomic(CA_BUNDLE_FILE, body, BUNDLE_FILE_MODE));
  return { path: join(options.dataDir, CA_BUNDLE_FILE), source: source ?? BUILTIN_ROOTS };
}

export type Shell = "bash" | "zsh" | "fish" | "powershell";
export const SHELLS: readonly Shell[] = ["bash", "zsh", "fish", "powershell"];

/**
 * The variables, in a stable order. NODE_EXTRA_CA_CERTS and DENO_CERT ADD to the runtime's own roots, so they get
 * our CA alone; the others REPLACE the roots a client reads, so they get the whole bundle.
 */
export function runtimeTrustEnv(caPath: string, bundlePath: string): [name: string, value: string][] {
  return [
    ["NODE_EXTRA_CA_CERTS", caPath], // Node.js (and Bun): extra CAs on top of the bundled roots
    ["SSL_CERT_FILE", bundlePath], // OpenSSL-based clients: Ruby, Python's ssl module, git, wget
    ["REQUESTS_CA_BUNDLE", bundlePath], // Python requests (which ignores SSL_CERT_FILE)
    ["CURL_CA_BUNDLE", bundlePath], // curl
    ["DENO_CERT", caPath], // Deno: an extra CA file
  ];
}

/** One assignment per line, quoted so any path (spaces, quotes, `$`) survives the shell unchanged. */
export function renderEnv(vars: [string, string][], shell: Shell): string {
  return vars.map(([name, value]) => assignment(name, value, shell)).join("\n");
}

function assignment(name: string, value: string, shell: Shell): string {
  switch (shell) {
    case "bash":
    case "zsh":
      // POSIX single quotes take everything literally; a ' ends the string, so it is written as '\''.
      return `export ${name}='${value.replaceAll("'", `'\\''`)}'`;
    case "fish":
      // fish single quotes honour exactly two escapes: \' and \\ (fish-shell docs, "Quotes").
      return `set -gx ${name} '${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
    case "powershell":
      // PowerShell verbatim strings: '' is the only escape (about_Quoting_Rules).
      return `$env:${name} = '${value.replaceAll("'", "''")}'`;
  }
}

/** The shell to render for when none is given: PowerShell on Windows, else $SHELL's name, else bash. */
export function defaultShell(platform: NodeJS.Platform, shellPath: string | undefined): Shell {
  if (platform === "win32") return "powershell";
  const name = shellPath?.split("/").pop();
  return SHELLS.find((shell) => shell === name) ?? "bash";
}
