/**
 * Where gotunnel keeps its files. Every path is derived here and nowhere else.
 *
 * `GOTUNNEL_HOME` overrides every gotunnel path (tests, CI, portable installs). Otherwise we follow each OS's
 * conventions (XDG on Linux). Under `sudo`, paths resolve to the invoking user's home so that one user never ends
 * up with two CAs, one of them root-owned and untrusted (a failure mkcert and portless both had).
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join as posixJoin, win32 } from "node:path";

export interface Paths {
  /** Long-lived data: the CA lives in `<dataDir>/ca`. */
  dataDir: string;
  caDir: string;
  /** User config: `<configDir>/config.{ts,json,yaml,...}`. */
  configDir: string;
  /** State and logs: routes, daemon log, and the daemon lock (daemon/lock.ts says why it is not in runtimeDir). */
  stateDir: string;
  /** The control socket. */
  runtimeDir: string;
}

export interface PathEnv {
  env?: Record<string, string | undefined>;
  platform?: NodeJS.Platform;
  home?: string;
}

/**
 * The home directory of the user who ran `sudo`, if that is how we became root. `sudo -u bob` as alice runs as bob,
 * for bob: alice's home is not his to write in.
 */
export function invokingUserHome(
  env: Record<string, string | undefined>,
  passwdFile = "/etc/passwd",
  uid = process.getuid?.(),
): string | undefined {
  const sudoUser = env.SUDO_USER;
  if (!sudoUser || sudoUser === "root" || uid !== 0) return undefined;
  try {
    for (const line of readFileSync(passwdFile, "utf8").split("\n")) {
      const fields = line.split(":");
      if (fields[0] === sudoUser && fields[5]) return fields[5];
    }
  } catch {
    // No passwd file (macOS uses Directory Services): fall through to the process home.
  }
  return undefined;
}

export function resolvePaths(options: PathEnv = {}): Paths {
  const env = options.env ?? process.env;
  const platform = options.platform ?? process.platform;
  // By the target OS's rules, not the running one's, so the Windows layout is the same when tested elsewhere.
  const join = platform === "win32" ? win32.join : posixJoin;
  const override = env.GOTUNNEL_HOME;
  if (override) {
    return {
      dataDir: override,
      caDir: join(override, "ca"),
      configDir: join(override, "config"),
      stateDir: join(override, "state"),
      runtimeDir: join(override, "run"),
    };
  }
  const home = options.home ?? invokingUserHome(env) ?? homedir();
  if (platform === "win32") {
    const local = env.LOCALAPPDATA ?? join(home, "AppData", "Local");
    const base = join(local, "gotunnel");
    return {
      dataDir: base,
      caDir: join(base, "ca"),
      configDir: join(env.APPDATA ?? join(home, "AppData", "Roaming"), "gotunnel"),
      stateDir: join(base, "state"),
      runtimeDir: join(base, "run"),
    };
  }
  if (platform === "darwin") {
    const base = join(home, "Library", "Application Support", "gotunnel");
    return {
      dataDir: base,
      caDir: join(base, "ca"),
      configDir: join(env.XDG_CONFIG_HOME ?? join(home, ".config"), "gotunnel"),
      stateDir: join(base, "state"),
      runtimeDir: join(base, "run"),
    };
  }
  const dataDir = join(env.XDG_DATA_HOME ?? join(home, ".local", "share"), "gotunnel");
  const stateDir = join(env.XDG_STATE_HOME ?? join(home, ".local", "state"), "gotunnel");
  return {
    dataDir,
    caDir: join(dataDir, "ca"),
    configDir: join(env.XDG_CONFIG_HOME ?? join(home, ".config"), "gotunnel"),
    stateDir,
    // Not $XDG_RUNTIME_DIR: sudo drops it, so a daemon started with sudo and the user's own commands would look for
    // the socket in two places. The state dir is the same for both (daemon/presence.ts re-creates a removed socket).
    runtimeDir: join(stateDir, "run"),
  };
}
