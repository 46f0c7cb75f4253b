/**
 * One interface for the login service of every OS: a systemd user unit (Linux), a LaunchAgent (macOS), a Task
 * Scheduler task (Windows). Each renders its definition file from a ServiceSpec (pure, so tests parse and verify it),
 * installs it idempotently, reports its state, and uninstalls it exactly: every file install wrote goes. Every
 * command it runs goes through the CommandRunner seam, so tests assert the exact argv.
 */
import { GotunnelError } from "../../core/errors.ts";
import { type CommandRunner, formatCommand, type RunResult } from "../runner.ts";

/** What the service runs: the daemon, in the foreground, as this user. */
export interface ServiceSpec {
  /** Absolute path of the program (the gotunnel binary; bun when run from source). */
  program: string;
  /** Arguments after the program: `daemon` and the flags the user chose at install time. */
  args: string[];
  /** Variables the daemon needs to find the same files as the CLI (GOTUNNEL_HOME, XDG_* …). */
  env: Record<string, string>;
  /** The daemon's working directory: the state dir, where no project config can be picked up by accident. */
  workingDir: string;
}

/** A file a service definition consists of, as install writes it. */
export interface ServiceFile {
  path: string;
  content: string | Uint8Array;
}

export interface InstallResult {
  /** False when the same definition was installed and running already: nothing was touched. */
  changed: boolean;
  files: string[];
}

export interface ServiceState {
  installed: boolean;
  /** Running now, as the service manager says. */
  running: boolean;
  pid?: number;
  /** ISO time the current run started, when the manager says. */
  since?: string;
  /** The definition file. */
  file: string;
  /** Where its logs are: a command (`journalctl --user -u gotunnel`) or a file. */
  logs: string;
  /** The manager's own words for the state ("active (running)", "state = running", "Ready"). */
  detail: string;
}

export interface UninstallResult {
  /** False when nothing was installed. */
  changed: boolean;
  /** The files that were removed. */
  removed: string[];
}

/** Whether this binary may listen on the privileged ports asked for, and if not, the one step that allows it. */
export type PortAccess =
  | { ok: true; how: string }
  | {
      ok: false;
      /** The ports that need the step. */
      ports: number[];
      /** "needs sudo because …": what the step changes and why nothing smaller would do. */
      why: string;
      /** The command that allows it (run once, with sudo); absent when no one-time step can (other ports can). */
      fix?: string[];
    };

export interface LoginService {
  /** "systemd user unit", "LaunchAgent", "Task Scheduler task". */
  readonly kind: string;
  /** The definition file's path. */
  readonly file: string;
  render(spec: ServiceSpec): ServiceFile[];
  install(spec: ServiceSpec): Promise<InstallResult>;
  status(): Promise<ServiceState>;
  uninstall(): Promise<UninstallResult>;
  portAccess(ports: readonly number[], program: string): Promise<PortAccess>;
}

/** What a login service reads from the machine: injectable, so tests never touch the real service manager. */
export interface ServiceContext {
  runner: CommandRunner;
  home: string;
  env: Record<string, string | undefined>;
  /** This process's uid (undefined on Windows). */
  uid: number | undefined;
  /** The login name the service runs as. */
  user: string;
  /** Reads a text file; undefined when it does not exist (the /proc and sysctl seam). */
  readText(path: string): string | undefined;
  /** gotunnel's state dir (platform/paths.ts): the daemon's working directory and, on Windows, its log's. */
  stateDir: string;
  /** The real path of the executable this process runs (its capabilities are this process's own). */
  selfExe: string;
}

/** The service's name wherever the OS wants one: the unit `gotunnel.service`, the task `\gotunnel`. */
export const SERVICE_NAME = "gotunnel";
/** launchd labels are reverse-DNS by convention (launchd.plist(5)). */
export const LAUNCHD_LABEL = "dev.gotunnel.daemon";

/** Runs a service-manager command; a non-zero exit is E_SERVICE naming the command and what it said. */
export async function runService(context: ServiceContext, argv: string[], action: string): Promise<RunResult> {
  const result = await context.runner.run(argv);
  if (result.code === 0) return result;
  throw serviceCommandError(argv, result, action);
}

export function serviceCommandError(argv: string[], result: RunResult, action: string, hint?: string): GotunnelError {
  const said = (result.stderr || result.stdout).trim().split("\n").slice(-3).join(" / ");
  return new GotunnelError("E_SERVICE", `could not ${action}: \`${formatCommand(argv)}\` exited with ${result.code}`, {
    hint: hint ?? (said ? `it said: ${said}` : "run the command yourself to see why"),
    details: { argv, code: result.code, output: said },
  });
}
