/**
 * NSS certificate databases: Chromium and Chrome on Linux (`~/.pki/nssdb` or the newer `~/.local/share/pki/nssdb`,
 * and those of snap and flatpak Chromium-family browsers) and every Firefox profile (snap and flatpak ones too),
 * changed with NSS's `certutil`. Our entry is the one whose nickname is our CA's unique common name;
 * `certutil -D -n <that nickname>` is the exact inverse of `-A`.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { installCommand } from "../../platform/detect.ts";
import { asInvokingUser, invokingOwner, type SudoUser } from "../../platform/owner.ts";
import { withOwnedDir } from "../../platform/safe-fs.ts";
import {
  type Availability,
  bundleContains,
  CHANGED,
  type Change,
  runOrThrow,
  type StoreContext,
  type TrustedCA,
  type TrustStore,
} from "./types.ts";

/** `C,,`: a trusted CA for TLS server certificates, nothing for S/MIME or code signing (certutil(1) -t). */
const TRUST_FLAGS = "C,,";
/** The package with NSS's certutil, per OS (Homebrew's `nss` on macOS). */
const NSS_TOOLS = {
  debian: "libnss3-tools",
  fedora: "nss-tools",
  arch: "nss",
  suse: "mozilla-nss-tools",
  alpine: "nss-tools",
  darwin: "nss",
};
/** ~/.pki and ~/.pki/nssdb hold the user's browser keys: theirs alone, as Chromium creates them. */
const NSS_DIR_MODE = 0o700;
/** Programs whose presence means a Chromium-family browser reads `~/.pki/nssdb` on this Linux machine. */
const CHROMIUM_BROWSERS = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "brave-browser"];

export interface NssDatabase {
  /** The directory holding cert9.db. */
  dir: string;
  /** "Chromium/Chrome (~/.pki/nssdb)", "Firefox profile abc.default-release". */
  label: string;
  /** Create the database when it does not exist yet (Chromium only creates it on its first non-headless start). */
  createIfMissing: boolean;
}

/**
 * Flatpak ids of Chromium-family browsers. A flatpak with home access uses `~/.pki/nssdb` like any other; one run
 * with `--persist=.pki` keeps it in `~/.var/app/<id>/.pki/nssdb`, and NSS's XDG fallback inside the sandbox is
 * `~/.var/app/<id>/data/pki/nssdb` (flatpak sets XDG_DATA_HOME there).
 */
const CHROMIUM_FLATPAKS = [
  "org.chromium.Chromium",
  "com.google.Chrome",
  "com.brave.Browser",
  "com.microsoft.Edge",
  "io.github.ungoogled_software.ungoogled_chromium",
];

/** Every NSS database a browser of this user reads. Only reads directory listings. */
export function findNssDatabases(context: StoreContext): NssDatabase[] {
  const databases: NssDatabase[] = context.os.platform === "linux" ? linuxChromiumDatabases(context) : [];
  for (const root of firefoxProfileRoots(context)) {
    for (const profile of listDirs(root)) {
      const dir = join(root, profile);
      if (existsSync(join(dir, "cert9.db")))
        databases.push({ dir, label: `Firefox profile ${profile}`, createIfMissing: false });
    }
  }
  return databases;
}

/**
 * The shared NSS database Chromium-family browsers read on Linux. NSS 3.42+ (nsssysinit.c) uses `~/.pki/nssdb` when
 * it exists and otherwise `$XDG_DATA_HOME/pki/nssdb` (`~/.local/share/pki/nssdb`), which newer Chromium builds use:
 * so when only the XDG one exists it is the one to change, and `~/.pki/nssdb` must not be created (it would shadow
 * it). Snap and flatpak browsers keep theirs inside their own directories.
 */
function linuxChromiumDatabases({ home, env, runner }: StoreContext): NssDatabase[] {
  const legacy = join(home, ".pki", "nssdb");
  const xdg = join(env.XDG_DATA_HOME || join(home, ".local", "share"), "pki", "nssdb");
  const found: NssDatabase[] = [];
  const hasChromium = CHROMIUM_BROWSERS.some((program) => runner.which(program));
  if (existsSync(legacy) || (hasChromium && !existsSync(xdg))) {
    found.push({ dir: legacy, label: "Chromium/Chrome (~/.pki/nssdb)", createIfMissing: true });
  }
  if (existsSync(xdg))
    found.push({ dir: xdg, label: "Chromium/Chrome (~/.local/share/pki/nssdb)", createIfMissing: false });
  const snap = join(home, "snap", "chromium", "current");
  const sandboxed: [string, string][] = [
    [join(snap, ".pki", "nssdb"), "Chromium snap"],
    [join(snap, ".local", "share", "pki", "nssdb"), "Chromium snap (XDG)"],
    ...CHROMIUM_FLATPAKS.flatMap((id): [string, string][] => [
      [join(home, ".var", "app", id, ".pki", "nssdb"), `${id} flatpak`],
      [join(home, ".var", "app", id, "data", "pki", "nssdb"), `${id} flatpak (XDG)`],
    ]),
  ];
  for (const [dir, label] of sandboxed) if (existsSync(dir)) found.push({ dir, label, createIfMissing: false });
  return found;
}

function firefoxProfileRoots({ home, os }: StoreContext): string[] {
  if (os.platform === "darwin") return [join(home, "Library", "Application Support", "Firefox", "Profiles")];
  // Windows has no NSS certutil; Firefox there can read the Windows store (security.enterprise_roots.enabled).
  if (os.platform === "win32") return [];
  return [
    join(home, ".mozilla", "firefox"),
    join(home, "snap", "firefox", "common", ".mozilla", "firefox"),
    join(home, ".var", "app", "org.mozilla.firefox", ".mozilla", "firefox"),
  ];
}

function listDirs(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

/** `certutil -L` lines are the nickname padded to a column, then the trust flags (`C,,`, `CT,C,C`, `,,`). */
export function parseNssListing(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^(.*\S)\s+([a-zA-Z]*,[a-zA-Z]*,[a-zA-Z]*)\s*$/.exec(line);
    if (match) entries.set(match[1]!, match[2]!);
  }
  return entries;
}

export function nssStore(context: StoreContext, database: NssDatabase): TrustStore {
  return new NssStore(context, database);
}

class NssStore implements TrustStore {
  readonly id: string;
  readonly name: string;

  constructor(
    private readonly context: StoreContext,
    private readonly database: NssDatabase,
  ) {
    this.id = `nss:${database.dir}`;
    this.name = `NSS ${database.label}`;
  }

  async detect(): Promise<Availability> {
    if (this.context.runner.which("certutil")) return { ok: true };
    return { ok: false, reason: "NSS certutil is not installed", fix: installCommand(this.context.os, NSS_TOOLS) };
  }

  async isTrusted(ca: TrustedCA): Promise<boolean> {
    const flags = await this.#flagsOf(ca);
    if (!flags?.split(",")[0]?.includes("C")) return false;
    // The nickname is ours; make sure the certificate behind it is this CA, not an older one of the same name.
    const argv = this.#certutil("-L", "-n", ca.commonName, "-a");
    return bundleContains((await runOrThrow(this.context, argv, `read ${this.database.label}`)).stdout, ca);
  }

  async hasLeftovers(ca: TrustedCA): Promise<boolean> {
    return (await this.#flagsOf(ca)) !== undefined;
  }

  elevation(): undefined {
    return undefined;
  }

  async install(ca: TrustedCA): Promise<Change> {
    const { dir, createIfMissing, label } = this.database;
    if (!this.#exists()) {
      if (!createIfMissing) return { changed: false, reason: `${dir} has no cert9.db` };
      // Under sudo, ~/.pki and ~/.pki/nssdb are created as the user's, never through a link (safe-fs.ts).
      withOwnedDir(dir, NSS_DIR_MODE, () => undefined, this.context.env);
      await runOrThrow(this.context, this.#certutil("-N", "--empty-password"), `create ${dir}`);
    }
    // Under sudo certutil runs as the user, who may not be able to open ca.certPath: the PEM goes through stdin.
    const input = this.#owner() ? { input: ca.certPem } : undefined;
    const source = input ? ["-a"] : ["-i", ca.certPath];
    const argv = this.#certutil("-A", "-t", TRUST_FLAGS, "-n", ca.commonName, ...source);
    await runOrThrow(this.context, argv, `add the CA to ${label}`, input);
    return CHANGED;
  }

  async uninstall(ca: TrustedCA): Promise<Change> {
    const argv = this.#certutil("-D", "-n", ca.commonName);
    await runOrThrow(this.context, argv, `remove the CA from ${this.database.label}`);
    return CHANGED;
  }

  /**
   * `certutil <command> -d sql:<dir> <args…>`, the argument order certutil(1) documents. Under sudo it runs as the
   * invoking user: the database is in their home, where a link they planted (cert9.db -> /etc/shadow) would
   * otherwise be opened, and rewritten, by root.
   */
  #certutil(command: string, ...args: string[]): string[] {
    const argv = ["certutil", command, "-d", `sql:${this.database.dir}`, ...args];
    const owner = this.#owner();
    return owner ? asInvokingUser(argv, owner, this.context.os.platform) : argv;
  }

  #owner(): SudoUser | undefined {
    return invokingOwner(this.context.env);
  }

  #exists(): boolean {
    return existsSync(join(this.database.dir, "cert9.db"));
  }

  async #flagsOf(ca: TrustedCA): Promise<string | undefined> {
    if (!this.#exists()) return undefined;
    const listing = await runOrThrow(this.context, this.#certutil("-L"), `list ${this.database.label}`);
    return parseNssListing(listing.stdout).get(ca.commonName);
  }
}
