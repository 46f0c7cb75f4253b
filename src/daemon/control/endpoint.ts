/**
 * Where the control API listens, per OS. Everywhere it is an AF_UNIX socket file, `<runtimeDir>/control.sock`:
 *
 * - Linux and macOS: access is the file's mode (0600) in a 0700 directory (server.ts). Bun binds paths longer than
 *   sockaddr_un allows through /proc/self/fd (Linux) or a per-thread chdir (macOS), so any state dir works.
 * - Windows: AF_UNIX exists since Windows 10 1803 (devblogs.microsoft.com/commandline/af_unix-comes-to-windows), and
 *   `Bun.serve({ unix })` binds it; Bun.serve and node:http cannot listen on a named pipe (`\\.\pipe\…`;
 *   oven-sh/bun#15350, open), which only node:net serves, without HTTP. So the same HTTP-over-socket protocol works
 *   unchanged, and loopback TCP with a token file (the DESIGN fallback) is not needed. Windows ignores the file
 *   mode: access is the directory's ACL, and %LOCALAPPDATA% is readable by its user only (and SYSTEM and
 *   Administrators). Bun has no long-path workaround there, so a path past sun_path's 108 bytes fails to bind with
 *   ERROR_FILENAME_EXCED_RANGE: we refuse it first, with a fix.
 */
import { posix, win32 } from "node:path";
import { GotunnelError } from "../../core/errors.ts";

export const SOCKET_FILE = "control.sock";
/** afunix.h: `char sun_path[UNIX_PATH_MAX]`, UNIX_PATH_MAX = 108, including the terminating NUL. */
export const WINDOWS_SUN_PATH_BYTES = 108;

/** The control socket's path in `runtimeDir` (paths.ts); throws E_DAEMON on Windows when it cannot be bound. */
export function socketPath(runtimeDir: string, platform: NodeJS.Platform = process.platform): string {
  if (platform !== "win32") return posix.join(runtimeDir, SOCKET_FILE);
  const path = win32.join(runtimeDir, SOCKET_FILE);
  const bytes = Buffer.byteLength(path, "utf8");
  if (bytes < WINDOWS_SUN_PATH_BYTES) return path;
  throw new GotunnelError(
    "E_DAEMON",
    `the control socket path ${path} is ${bytes} bytes; Windows AF_UNIX sockets take at most ${WINDOWS_SUN_PATH_BYTES - 1}`,
    {
      hint: "set GOTUNNEL_HOME to a shorter directory of your own (e.g. `setx GOTUNNEL_HOME %USERPROFILE%\\gt`), then run the command again",
      details: { socket: path, bytes },
    },
  );
}
