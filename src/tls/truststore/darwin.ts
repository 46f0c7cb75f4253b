/**
 * The macOS login keychain, with user trust settings: what Safari, Chrome, curl (SecureTransport builds) and the
 * system frameworks read. The login keychain needs no sudo; macOS asks for the login password when trust settings
 * change (security(1) add-trusted-cert), so the user is told first. Our entry is found by its SHA-1, the only
 * identifier `security delete-certificate` accepts besides the (non-unique) common name.
 *
 * Under `sudo gotunnel trust`, every `security` command runs as the invoking user (`sudo -u #uid`), never as root:
 * root writing the user's login keychain replaces the file with a root-owned one the user can no longer unlock
 * (macOS then asks for the keychain password again and again), and root's trust settings are root's own user
 * domain, which the user's browsers never read.
 */
import { join } from "node:path";
import { asInvokingUser, invokingOwner } from "../../platform/owner.ts";
import {
  type Availability,
  CHANGED,
  type Change,
  runOrThrow,
  type StoreContext,
  sha1Hex,
  type TrustedCA,
  type TrustStore,
} from "./types.ts";

export function keychainPath(home: string): string {
  return join(home, "Library", "Keychains", "login.keychain-db");
}

/** `SHA-1 hash: <40 hex>` lines of `security find-certificate -Z`. */
export function parseSha1Hashes(text: string): string[] {
  return [...text.matchAll(/^SHA-1 hash: ([0-9A-Fa-f]{40})$/gm)].map((match) => match[1]!.toUpperCase());
}

/**
 * The names `security dump-trust-settings` lists with trust in force. Each certificate is a `Cert <n>: <name>` line
 * followed by its settings. A trusted root usually shows `Number of trust settings : 0` (an empty array means trusted
 * for everything, SecTrustSettingsCopyTrustSettings), or settings whose `Result Type` is TrustRoot or TrustAsRoot;
 * a parser that insists on a result line reads every trusted root as untrusted and re-runs add-trusted-cert, which
 * asks for the password, at every run. Only an explicit Deny (or Unspecified) takes a name out.
 */
export function parseTrustSettings(text: string): Set<string> {
  const trusted = new Set<string>();
  let current: string | undefined;
  let denied = false;
  const close = () => {
    if (current !== undefined && !denied) trusted.add(current);
  };
  for (const line of text.split("\n")) {
    const cert = /^\s*Cert \d+: (.*?)\s*$/.exec(line);
    if (cert) {
      close();
      current = cert[1];
      denied = false;
    } else if (/Result Type\s*:\s*kSecTrustSettingsResult(Deny|Unspecified)\b/.test(line)) {
      denied = true;
    }
  }
  close();
  return trusted;
}

export function keychainStore(context: StoreContext): TrustStore {
  const keychain = keychainPath(context.home);
  const owner = invokingOwner(context.env);
  const security = (...args: string[]) => {
    const argv = ["security", ...args];
    return owner ? asInvokingUser(argv, owner, "darwin") : argv;
  };
  const inKeychain = async (ca: TrustedCA) => {
    // Exit 44 (errSecItemNotFound) when nothing matches the name: not an error, just not there.
    const argv = security("find-certificate", "-a", "-Z", "-c", ca.commonName, keychain);
    const result = await context.runner.run(argv);
    return result.code === 0 && parseSha1Hashes(result.stdout).includes(sha1Hex(ca));
  };
  return {
    id: "keychain",
    name: `macOS login keychain (${keychain})`,
    async detect(): Promise<Availability> {
      if (context.runner.which("security")) return { ok: true };
      return { ok: false, reason: "the `security` tool is missing (it ships with macOS)" };
    },
    /**
     * In the keychain AND with user trust settings. The certificate alone is not trust: when the password dialog is
     * cancelled, add-trusted-cert has already imported it, and a check by presence would then call the store
     * "already" trusted while every browser rejects the CA.
     */
    async isTrusted(ca) {
      if (!(await inKeychain(ca))) return false;
      // Non-zero ("No Trust Settings were found") when the user domain has none at all.
      const result = await context.runner.run(security("dump-trust-settings"));
      return result.code === 0 && parseTrustSettings(result.stdout).has(ca.commonName);
    },
    /** Imported but not trusted (a cancelled dialog): `untrust` removes it anyway. */
    hasLeftovers: (ca) => inKeychain(ca),
    elevation: () => "macOS asks for your login password to change the keychain's trust settings",
    async install(ca): Promise<Change> {
      const argv = security("add-trusted-cert", "-r", "trustRoot", "-k", keychain, ca.certPath);
      await runOrThrow(context, argv, "add the CA to the login keychain");
      return CHANGED;
    },
    async uninstall(ca): Promise<Change> {
      // -t also deletes the user trust settings add-trusted-cert made, so nothing of ours is left (security(1)).
      const argv = security("delete-certificate", "-Z", sha1Hex(ca), "-t", keychain);
      await runOrThrow(context, argv, "remove the CA from the login keychain");
      return CHANGED;
    },
  };
}
