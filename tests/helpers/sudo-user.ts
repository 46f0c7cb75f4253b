/**
 * A real unprivileged user with real `sudo`, without touching this machine's accounts: inside a private mount
 * namespace (mount-namespace.ts), /etc is an overlay whose changes land on a tmpfs, `useradd` adds the user there,
 * and a sudoers drop-in gives them `NOPASSWD: ALL`. sudo's own state (/run/sudo, /var/lib/sudo) is on tmpfs too,
 * and the drop-in turns off its syslog lines. The user's home sits behind a root-owned symlink (as /home -> /usr/home
 * does on some systems), so every test also shows that such a home works.
 *
 * Commands run as the user through `sudo -u` from root, and "sudo gotunnel" is that user running `sudo` themselves:
 * sudo sets SUDO_USER, SUDO_UID and SUDO_GID and resets the environment exactly as it does for a person.
 */
import { chmodSync } from "node:fs";
import { join } from "node:path";
import type { RunResult } from "./e2e.ts";
import { MountNamespace, mountNamespaceSkipReason } from "./mount-namespace.ts";

export const SUDO_USER_NAME = "gtuser";
const NS_TMPFS_SIZE = "64m";

/** Why real-sudo tests cannot run here, or undefined when they can. */
export function sudoUserSkipReason(): string | undefined {
  return mountNamespaceSkipReason(["sudo", "useradd", "id", "install", "perl"]);
}

export class SudoUser {
  private constructor(
    readonly ns: MountNamespace,
    /** The namespace's tmpfs: the user's home, the hosts file and anything a test plants live here. */
    readonly root: string,
    /** The home as /etc/passwd has it: through the root-owned link `<root>/homes`. */
    readonly home: string,
    readonly uid: number,
    readonly gid: number,
    /** A gotunnel binary every user can run. */
    readonly binary: string,
  ) {}

  /** A namespace on `dir` (an empty directory) holding the user; `binary` must be world-readable. */
  static async create(dir: string, binary: string): Promise<SudoUser> {
    chmodSync(dir, 0o755); // the user's home is below it
    const root = join(dir, "ns");
    const setup = `mkdir -p ${root}
mount -t tmpfs -o size=${NS_TMPFS_SIZE},mode=755 gotunnel-sudo ${root}
mkdir ${root}/etc-upper ${root}/etc-work ${root}/real-homes
mount -t overlay overlay -o lowerdir=/etc,upperdir=${root}/etc-upper,workdir=${root}/etc-work /etc
mount -t tmpfs -o mode=711 gotunnel-sudo-run /run/sudo
mount -t tmpfs -o mode=755 gotunnel-sudo-lib /var/lib/sudo
ln -s real-homes ${root}/homes
useradd --no-log-init -M -d ${root}/homes/${SUDO_USER_NAME} -s /bin/sh ${SUDO_USER_NAME}
printf 'Defaults !syslog, !lecture\\n${SUDO_USER_NAME} ALL=(root) NOPASSWD: ALL\\n' > /etc/sudoers.d/gotunnel-test
chmod 0440 /etc/sudoers.d/gotunnel-test`;
    const ns = await MountNamespace.start(setup);
    const id = await ns.run(["id", "-u", SUDO_USER_NAME]);
    const gid = await ns.run(["id", "-g", SUDO_USER_NAME]);
    const home = join(root, "homes", SUDO_USER_NAME);
    const user = new SudoUser(ns, root, home, Number(id.stdout), Number(gid.stdout), binary);
    await user.freshHome();
    return user;
  }

  /** A brand-new account's home: /etc/skel only, the user's, 0700 (what `useradd -m` makes). */
  async freshHome(): Promise<void> {
    const real = join(this.root, "real-homes", SUDO_USER_NAME);
    const made = await this.ns.sh(
      `rm -rf "$1" && install -d -m 700 -o "$2" -g "$3" "$1" && cp -a /etc/skel/. "$1"
chown -R "$2:$3" "$1"`,
      [real, String(this.uid), String(this.gid)],
    );
    if (made.exitCode !== 0) throw new Error(`could not make ${real}: ${made.stderr}`);
  }

  /** `argv` as the user (from root, `sudo -u`), in their home. */
  asUser(argv: string[]): Promise<RunResult> {
    return this.ns.run(["sudo", "-n", "-u", SUDO_USER_NAME, "--", ...argv], { cwd: this.home });
  }

  /** A shell script as the user; $HOME is theirs. */
  shAsUser(script: string): Promise<RunResult> {
    return this.asUser(["sh", "-c", `set -e\n${script}`]);
  }

  /**
   * The user's own gotunnel, without sudo: as from their own shell, so without the SUDO_* variables that getting
   * there with `sudo -u` sets.
   */
  gotunnel(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
    const unset = SUDO_VARIABLES.flatMap((name) => ["-u", name]);
    return this.asUser(["env", ...unset, ...assignments({ ...this.#gotunnelEnv(), ...env }), this.binary, ...args]);
  }

  /** The user runs `sudo gotunnel …`: the variables are passed as `sudo VAR=value`, as a person would. */
  sudoGotunnel(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
    return this.asUser(["sudo", "-n", ...assignments({ ...this.#gotunnelEnv(), ...env }), this.binary, ...args]);
  }

  /** The hosts file the daemon writes (never the real one; /etc is an overlay here anyway). */
  get hostsFile(): string {
    return join(this.root, "hosts");
  }

  /** `path` inside the namespace, readable from the test process. */
  path(path: string): string {
    return this.ns.path(path);
  }

  #gotunnelEnv(): Record<string, string> {
    return { NO_COLOR: "1", GOTUNNEL_HOSTS_FILE: this.hostsFile, GOTUNNEL_ADMIN_PORT: "0", GOTUNNEL_LAN: "0" };
  }
}

/** What sudo adds to the environment (sudo(8), "Command environment"). */
const SUDO_VARIABLES = ["SUDO_USER", "SUDO_UID", "SUDO_GID", "SUDO_COMMAND", "SUDO_HOME"];

function assignments(env: Record<string, string>): string[] {
  return Object.entries(env).map(([name, value]) => `${name}=${value}`);
}
