/**
 * The Java `cacerts` keystore of the JDK whose `keytool` is on PATH (or JAVA_HOME): what Gradle, Maven, Spring and
 * other JVM clients trust. Our entry has the alias `gotunnel-<fingerprint>`; trust is checked by SHA-256 fingerprint,
 * because Debian's ca-certificates-java hook also copies system-store anchors into cacerts under its own alias.
 */
import { accessSync, constants, existsSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  type Availability,
  CHANGED,
  type Change,
  runOrThrow,
  type StoreContext,
  storeLabel,
  type TrustedCA,
  type TrustStore,
} from "./types.ts";

/** The JDK's documented default password for cacerts (keytool(1) "-cacerts"). It protects integrity, not secrecy. */
const CACERTS_PASSWORD = "changeit";

/** JAVA_HOME's cacerts (JDK 9+ layout, then JDK 8's jre/), else the one next to the resolved keytool. */
export function findCacerts(
  context: StoreContext,
  keytool: string,
  exists: (path: string) => boolean = existsSync,
): string | undefined {
  const homes = [context.env.JAVA_HOME, dirname(dirname(resolveLink(keytool)))].filter((home) => home !== undefined);
  for (const home of homes) {
    for (const candidate of [
      join(home, "lib", "security", "cacerts"),
      join(home, "jre", "lib", "security", "cacerts"),
    ]) {
      if (exists(candidate)) return candidate;
    }
  }
  return undefined;
}

function resolveLink(path: string): string {
  try {
    return realpathSync(path);
  } catch (error) {
    // A dangling alternatives link: keep the path itself; findCacerts then finds nothing next to it and says so.
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return path;
    throw error;
  }
}

/** alias → lower-case SHA-256 hex, from `keytool -list` (JDK 9+ prints one fingerprint line per entry). */
export function parseKeytoolList(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  let alias: string | undefined;
  for (const line of text.split("\n")) {
    const entry = /^(.+?), [^,]+, \d{4}, \w+Entry,\s*$/.exec(line);
    if (entry) alias = entry[1]!;
    const fingerprint = /^Certificate fingerprint \(SHA-256\): ([0-9A-F:]+)\s*$/.exec(line);
    if (fingerprint && alias !== undefined) entries.set(alias, fingerprint[1]!.replaceAll(":", "").toLowerCase());
  }
  return entries;
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EACCES" || (error as NodeJS.ErrnoException).code === "EPERM") {
      return false;
    }
    throw error;
  }
}

export interface JavaStoreSeams {
  writable?: (path: string) => boolean;
  exists?: (path: string) => boolean;
}

export function javaStore(context: StoreContext, options: JavaStoreSeams = {}): TrustStore {
  const keytool = context.runner.which("keytool");
  const cacerts = keytool ? findCacerts(context, keytool, options.exists) : undefined;
  return new JavaStore(context, keytool, cacerts, options.writable ?? writable);
}

class JavaStore implements TrustStore {
  readonly id = "java";
  readonly name: string;

  constructor(
    private readonly context: StoreContext,
    private readonly keytool: string | undefined,
    private readonly cacerts: string | undefined,
    private readonly canWrite: (path: string) => boolean,
  ) {
    this.name = `Java keystore (${cacerts ?? "cacerts"})`;
  }

  async detect(): Promise<Availability> {
    if (!this.keytool) return { ok: false, reason: "keytool is not installed (no Java to trust for)" };
    if (!this.cacerts)
      return { ok: false, reason: `no cacerts next to ${this.keytool}`, fix: "set JAVA_HOME to your JDK" };
    return { ok: true };
  }

  async isTrusted(ca: TrustedCA): Promise<boolean> {
    return [...(await this.#entries()).values()].includes(ca.fingerprintSha256);
  }

  elevation(): string | undefined {
    return this.#sudo().length > 0 ? `${this.cacerts} belongs to root: gotunnel runs \`sudo keytool\`` : undefined;
  }

  async install(ca: TrustedCA): Promise<Change> {
    const argv = [...this.#sudo(), "keytool", "-importcert", "-noprompt", ...this.#keystore(), "-file", ca.certPath];
    await runOrThrow(this.context, [...argv, "-alias", storeLabel(ca)], "add the CA to the Java keystore");
    return CHANGED;
  }

  async uninstall(ca: TrustedCA): Promise<Change> {
    if ((await this.#entries()).get(storeLabel(ca)) !== ca.fingerprintSha256) {
      const reason = "it is trusted under an alias gotunnel did not add (e.g. from the system store's Java hook)";
      return { changed: false, reason };
    }
    const argv = [...this.#sudo(), "keytool", "-delete", ...this.#keystore(), "-alias", storeLabel(ca)];
    await runOrThrow(this.context, argv, "remove the CA from the Java keystore");
    return CHANGED;
  }

  #keystore(): string[] {
    return ["-keystore", this.cacerts ?? "", "-storepass", CACERTS_PASSWORD];
  }

  #sudo(): string[] {
    return this.context.isRoot || !this.cacerts || this.canWrite(this.cacerts) ? [] : ["sudo"];
  }

  async #entries(): Promise<Map<string, string>> {
    const listing = await runOrThrow(this.context, ["keytool", "-list", ...this.#keystore()], "list the Java keystore");
    return parseKeytoolList(listing.stdout);
  }
}
