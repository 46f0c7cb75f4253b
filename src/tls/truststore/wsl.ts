/**
 * From WSL, the Windows side's current-user Root store as well: browsers run on Windows, so a name served from WSL
 * is only trusted there if the CA is in the Windows store. WSL interop runs `certutil.exe`; the CA file's Linux path
 * is translated with `wslpath -w` (e.g. \\wsl.localhost\Ubuntu\home\ada\...).
 */
import { existsSync } from "node:fs";
import { runOrThrow, type StoreContext, type TrustStore } from "./types.ts";
import { currentUserRootStore } from "./windows.ts";

/** Where certutil.exe lives when the Windows PATH is not appended to WSL's (interop.appendWindowsPath=false). */
export const WINDOWS_CERTUTIL = "/mnt/c/Windows/System32/certutil.exe";

export function wslWindowsStore(context: StoreContext, exists: (path: string) => boolean = existsSync): TrustStore {
  const onPath = context.runner.which("certutil.exe") ? "certutil.exe" : undefined;
  const certutil = onPath ?? (exists(WINDOWS_CERTUTIL) ? WINDOWS_CERTUTIL : undefined);
  return currentUserRootStore(context, {
    id: "wsl-windows",
    name: "Windows current-user Root store (from WSL)",
    certutil,
    async windowsPath(ca) {
      const result = await runOrThrow(context, ["wslpath", "-w", ca.certPath], "translate the CA path for Windows");
      return result.stdout.trim();
    },
    missing: {
      ok: false,
      reason: "certutil.exe is not reachable from WSL",
      fix: "enable WSL interop ([interop] enabled=true in /etc/wsl.conf), or run `gotunnel trust` on Windows",
    },
  });
}
