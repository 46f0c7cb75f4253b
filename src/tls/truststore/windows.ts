/**
 * The Windows current-user Root store, which Edge, Chrome, .NET, curl (Schannel builds) and Firefox (with
 * security.enterprise_roots.enabled) read. The current-user store needs no administrator rights; Windows shows its
 * own "install this certificate?" dialog instead, so the user is told first. Entries are found by SHA-1 thumbprint.
 * wsl.ts reuses this with `certutil.exe` and a translated path.
 */
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

export interface WindowsRootOptions {
  id: string;
  name: string;
  /** `certutil` on Windows, `certutil.exe` (or its /mnt/c path) from WSL. */
  certutil: string | undefined;
  /** Turns the CA file's path into one certutil can open (identity on Windows; `wslpath -w` from WSL). */
  windowsPath(ca: TrustedCA): Promise<string>;
  /** Why the store is unavailable when certutil is missing. */
  missing: Availability;
}

export function currentUserRootStore(context: StoreContext, options: WindowsRootOptions): TrustStore {
  const certutil = options.certutil ?? "certutil";
  return {
    id: options.id,
    name: options.name,
    async detect(): Promise<Availability> {
      return options.certutil ? { ok: true } : options.missing;
    },
    async isTrusted(ca) {
      // certutil(1) -store with a thumbprint exits non-zero (CRYPT_E_NOT_FOUND) when the store lacks it.
      const result = await context.runner.run([certutil, "-user", "-store", "Root", sha1Hex(ca)]);
      return result.code === 0;
    },
    elevation: () => "Windows asks you to confirm adding a root certificate to your user store",
    async install(ca): Promise<Change> {
      const file = await options.windowsPath(ca);
      await runOrThrow(context, [certutil, "-user", "-addstore", "Root", file], "add the CA to the Windows Root store");
      return CHANGED;
    },
    async uninstall(ca): Promise<Change> {
      const argv = [certutil, "-user", "-delstore", "Root", sha1Hex(ca)];
      await runOrThrow(context, argv, "remove the CA from the Windows Root store");
      return CHANGED;
    },
  };
}

export function windowsStore(context: StoreContext): TrustStore {
  return currentUserRootStore(context, {
    id: "windows",
    name: "Windows current-user Root store",
    certutil: context.runner.which("certutil") ? "certutil" : undefined,
    windowsPath: async (ca) => ca.certPath,
    missing: { ok: false, reason: "certutil.exe is missing (it ships with Windows)" },
  });
}
