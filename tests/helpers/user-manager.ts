/**
 * A real systemd user manager (`systemd --user`) for an unprivileged user, started by the test and gone after it,
 * without a booted systemd on the machine: the manager gets
 *   - a cgroup subtree of its own, delegated to the user (what logind + user@.service would give it);
 *   - a private /run with /run/systemd/system in it (a mount namespace), which is how sd_booted(3) tells that systemd
 *     manages the machine, and a tmpfs so the host's /run is never touched;
 *   - optionally a network namespace the test created (nsenter --net, which, unlike `ip netns exec`, leaves /sys and
 *     so the cgroup mounts alone);
 *   - its own HOME and XDG_RUNTIME_DIR, in temp directories the user owns.
 * systemctl --user reaches it through $XDG_RUNTIME_DIR/systemd/private from outside the mount namespace.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { run } from "./e2e.ts";

const SYSTEMD_BINARIES = ["/lib/systemd/systemd", "/usr/lib/systemd/systemd"];
const CGROUP_ROOT = "/sys/fs/cgroup";
const START_TIMEOUT_MS = 15_000;

/** The cgroup hierarchies a manager needs: the unified one, and on a hybrid layout also name=systemd. */
function cgroupHierarchies(): string[] | undefined {
  if (existsSync(join(CGROUP_ROOT, "cgroup.controllers"))) return [CGROUP_ROOT];
  const hybrid = [join(CGROUP_ROOT, "unified"), join(CGROUP_ROOT, "systemd")];
  return hybrid.every((dir) => existsSync(join(dir, "cgroup.procs"))) ? hybrid : undefined;
}

export function systemdBinary(): string | undefined {
  return SYSTEMD_BINARIES.find((path) => existsSync(path));
}

/** Why a user manager cannot run here, or undefined. */
export function userManagerSkipReason(): string | undefined {
  if (process.platform !== "linux") return "needs Linux";
  if (process.getuid?.() !== 0) return "needs root to delegate a cgroup and mount a private /run";
  if (!systemdBinary()) return "needs systemd (apt-get install systemd)";
  const missing = ["systemctl", "unshare", "nsenter", "setpriv"].filter((tool) => !Bun.which(tool));
  if (missing.length > 0) return `needs ${missing.join(", ")}`;
  if (!cgroupHierarchies()) return `no cgroup v2 or hybrid hierarchy under ${CGROUP_ROOT}`;
  return undefined;
}

export interface UserManagerOptions {
  uid: number;
  gid: number;
  home: string;
  runtimeDir: string;
  /** A network namespace from `ip netns add` (its path is /run/netns/<name>). */
  netns?: string;
}

export class UserManager {
  private constructor(
    private readonly options: UserManagerOptions,
    private readonly proc: Subprocess<"ignore", "pipe", "pipe">,
    private readonly cgroups: string[],
  ) {}

  static async start(options: UserManagerOptions): Promise<UserManager> {
    const id = crypto.randomUUID().slice(0, 8);
    const cgroups = (cgroupHierarchies() ?? []).map((root) => join(root, `gotunnel-test-${id}`));
    for (const dir of cgroups) {
      mkdirSync(dir);
      await run(["chown", "-R", `${options.uid}:${options.gid}`, dir]);
    }
    const join_ = cgroups.map((dir) => `echo $$ > ${join(dir, "cgroup.procs")}`).join(" && ");
    const manager = [
      "setpriv",
      `--reuid=${options.uid}`,
      `--regid=${options.gid}`,
      "--clear-groups",
      "env",
      "-i",
      ...Object.entries(UserManager.baseEnv(options)).map(([key, value]) => `${key}=${value}`),
      systemdBinary() ?? "systemd",
      "--user",
    ];
    const net = options.netns ? ["nsenter", `--net=/run/netns/${options.netns}`, "--"] : [];
    const inner = `mount -t tmpfs gotunnel-test-run /run && mkdir -p /run/systemd/system && exec ${manager.map(shellWord).join(" ")}`;
    // Joins the cgroups first (children inherit them), then the network and a private mount namespace.
    const script = `${join_} && exec ${[...net, "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", inner].map(shellWord).join(" ")}`;
    const proc = Bun.spawn(["sh", "-c", script], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const started = new UserManager(options, proc, cgroups);
    const socket = join(options.runtimeDir, "systemd", "private");
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await started.answers())) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        const state = await started.state();
        await started.stop();
        const stderr = await new Response(proc.stderr).text();
        throw new Error(`systemd --user did not come up (${socket}: ${state || "no answer"}): ${stderr}`);
      }
      await Bun.sleep(100);
    }
    return started;
  }

  static baseEnv(options: Pick<UserManagerOptions, "home" | "runtimeDir">): Record<string, string> {
    return { HOME: options.home, XDG_RUNTIME_DIR: options.runtimeDir, PATH: "/usr/local/bin:/usr/bin:/bin" };
  }

  /** Its SystemState; `is-system-running` would say "offline", since it checks the host's /run for sd_booted(3). */
  async state(): Promise<string> {
    const result = await this.asUser(["systemctl", "--user", "show", "--property=SystemState"]);
    return result.stdout.trim().replace(/^SystemState=/, "");
  }

  private async answers(): Promise<boolean> {
    return ["running", "degraded"].includes(await this.state());
  }

  /** argv as the user, in the manager's network namespace, with `env` on top of HOME/XDG_RUNTIME_DIR/PATH only. */
  userArgv(argv: string[], env: Record<string, string> = {}): string[] {
    const { uid, gid, netns } = this.options;
    const vars = { ...UserManager.baseEnv(this.options), ...env };
    return [
      ...(netns ? ["nsenter", `--net=/run/netns/${netns}`, "--"] : []),
      "setpriv",
      `--reuid=${uid}`,
      `--regid=${gid}`,
      "--clear-groups",
      "env",
      "-i",
      ...Object.entries(vars).map(([key, value]) => `${key}=${value}`),
      ...argv,
    ];
  }

  asUser(argv: string[], env: Record<string, string> = {}) {
    return run(this.userArgv(argv, env), { cwd: this.options.home, timeoutMs: 60_000 });
  }

  /** Every process in the manager's cgroups: the manager and whatever it started. */
  pids(): number[] {
    const dirs = this.cgroups.filter((dir) => existsSync(dir)).flatMap((dir) => [dir, ...subdirs(dir)]);
    return [...new Set(dirs.flatMap((dir) => readProcs(dir).split("\n").filter(Boolean).map(Number)))];
  }

  async stop(): Promise<void> {
    this.proc.kill("SIGTERM");
    await Promise.race([this.proc.exited, Bun.sleep(10_000)]);
    // Whatever is left in the subtree (the manager on timeout, a unit's process) goes now.
    for (const dir of this.cgroups) killTree(dir);
    // A killed process leaves its cgroup only once the kernel has reaped it: retry for a while (EBUSY until then).
    for (let attempt = 0; ; attempt++) {
      try {
        for (const dir of this.cgroups) removeTree(dir);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EBUSY" || attempt >= 50) throw error;
        await Bun.sleep(100);
      }
    }
  }
}

function readProcs(dir: string): string {
  return readFileSync(join(dir, "cgroup.procs"), "utf8");
}

function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

function subdirs(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) found.push(join(dir, entry.name), ...subdirs(join(dir, entry.name)));
  }
  return found;
}

function killTree(dir: string): void {
  if (!existsSync(dir)) return;
  // cgroup v2's cgroup.kill (Linux 5.14) takes the whole subtree at once; otherwise signal each process.
  if (existsSync(join(dir, "cgroup.kill"))) writeFileSync(join(dir, "cgroup.kill"), "1");
  for (const sub of [dir, ...subdirs(dir)]) {
    for (const pid of readProcs(sub).split("\n").filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
      }
    }
  }
}

function removeTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const sub of subdirs(dir).sort((a, b) => b.length - a.length)) rmdirSync(sub);
  rmdirSync(dir);
}
