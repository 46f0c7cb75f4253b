/**
 * Linux: a systemd user unit, `~/.config/systemd/user/gotunnel.service` (systemd.unit(5), "User Unit Search Path").
 * The user manager starts it at login (WantedBy=default.target), restarts it after a crash (Restart=on-failure: a
 * clean `gotunnel daemon stop` exits 0 and stays stopped), and its output goes to the journal
 * (`journalctl --user -u gotunnel`).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { GotunnelError } from "../../core/errors.ts";
import { linuxPortAccess } from "./linux-ports.ts";
import { CREATED_DIRS_MARKER, removeDefinition, writeDefinition } from "./owned-files.ts";
import {
  type InstallResult,
  type LoginService,
  runService,
  SERVICE_NAME,
  type ServiceContext,
  type ServiceSpec,
  type ServiceState,
  serviceCommandError,
  type UninstallResult,
} from "./types.ts";

const UNIT = `${SERVICE_NAME}.service`;
/** How long a crashed daemon waits before systemd starts it again. */
const RESTART_DELAY_S = 5;
/** The daemon's shutdown grace is 5 s (daemon.ts SHUTDOWN_GRACE_MS); SIGKILL only well after it. */
const STOP_TIMEOUT_S = 15;

/** `$XDG_CONFIG_HOME/systemd/user`, the first user unit directory the user may write (systemd.unit(5)). */
export function unitDir(context: Pick<ServiceContext, "env" | "home">): string {
  return join(context.env.XDG_CONFIG_HOME || join(context.home, ".config"), "systemd", "user");
}

/**
 * One word of a command line as systemd.service(5) "Command lines" parses it: bare when it is plain, else in double
 * quotes with C escapes. `%` starts a specifier and `$` a variable everywhere, quoted or not, so both are doubled.
 */
export function execWord(word: string): string {
  const escaped = word.replaceAll("%", "%%").replaceAll("$", "$$$$");
  if (/^[\w@+=:,./-]+$/.test(word)) return escaped;
  return `"${escaped.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/** `Environment="NAME=value"`: quoted so spaces survive; `%` is a specifier there too (systemd.exec(5)). */
function environmentLine(name: string, value: string): string {
  const escaped = `${name}=${value}`.replaceAll("%", "%%").replaceAll("\\", "\\\\").replaceAll('"', '\\"');
  return `Environment="${escaped}"`;
}

export function renderUnit(spec: ServiceSpec, createdDirs: readonly string[] = []): string {
  return [
    "# Written by `gotunnel service install`; `gotunnel service uninstall` removes it.",
    `# ${CREATED_DIRS_MARKER}${JSON.stringify(createdDirs)}`,
    "[Unit]",
    "Description=gotunnel daemon: trusted HTTPS names for local dev servers",
    "Documentation=https://github.com/gotunnel/gotunnel#readme",
    "",
    "[Service]",
    // exec: the start fails when the binary cannot be run (moved, deleted), instead of looking started.
    "Type=exec",
    `ExecStart=${[spec.program, ...spec.args].map(execWord).join(" ")}`,
    // "-": a removed state dir must not keep the daemon from starting; it creates its dirs itself.
    `WorkingDirectory=-${spec.workingDir}`,
    ...Object.entries(spec.env).map(([name, value]) => environmentLine(name, value)),
    "Restart=on-failure",
    `RestartSec=${RESTART_DELAY_S}s`,
    `TimeoutStopSec=${STOP_TIMEOUT_S}s`,
    "",
    "[Install]",
    "WantedBy=default.target",
    "",
  ].join("\n");
}

/** `systemctl show` output: `Key=value` lines. */
export function parseShow(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) fields[line.slice(0, at)] = line.slice(at + 1);
  }
  return fields;
}

/** `Sun 2026-12-06 21:30:35 UTC` (systemctl runs with TZ=UTC) → ISO; undefined for "n/a" or empty. */
export function showTimestamp(value: string | undefined): string | undefined {
  const match = /(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) UTC/.exec(value ?? "");
  return match ? `${match[1]}T${match[2]}.000Z` : undefined;
}

export function systemdService(context: ServiceContext): LoginService {
  const dir = unitDir(context);
  const file = join(dir, UNIT);
  const systemctl = (...args: string[]) => ["systemctl", "--user", ...args];
  const logs = `journalctl --user -u ${SERVICE_NAME}`;

  /** Fails before anything is written when there is no user manager to talk to. */
  async function requireManager(): Promise<void> {
    const argv = systemctl("show", "--property=Version");
    const result = await context.runner.run(argv);
    if (result.code === 0) return;
    throw serviceCommandError(
      argv,
      result,
      "reach systemd's user manager",
      "there is no systemd user manager for you here (a container, WSL without systemd, or an ssh session without " +
        "`loginctl enable-linger`); gotunnel still starts its daemon on demand when a command needs it",
    );
  }

  async function show(): Promise<Record<string, string>> {
    const props = "LoadState,ActiveState,SubState,MainPID,ExecMainStartTimestamp,UnitFileState";
    const argv = systemctl("show", UNIT, `--property=${props}`);
    const result = await context.runner.run(argv, { env: { TZ: "UTC" } });
    if (result.code !== 0) throw serviceCommandError(argv, result, "read the state of the gotunnel unit");
    return parseShow(result.stdout);
  }

  return {
    kind: "systemd user unit",
    file,
    render: (spec) => [{ path: file, content: renderUnit(spec) }],
    async install(spec: ServiceSpec): Promise<InstallResult> {
      await requireManager();
      const wants = join(dir, "default.target.wants");
      const changed = writeDefinition(file, (created) => renderUnit(spec, created), [wants]);
      const state = changed ? undefined : await show();
      if (state?.ActiveState === "active" && state.UnitFileState === "enabled")
        return { changed: false, files: [file] };
      await runService(context, systemctl("daemon-reload"), "reload systemd's user units");
      await runService(context, systemctl("enable", UNIT), "enable the gotunnel unit");
      // restart: starts it when stopped, and puts a changed definition into effect when running.
      await runService(context, systemctl("restart", UNIT), "start the gotunnel unit");
      return { changed: true, files: [file] };
    },
    async status(): Promise<ServiceState> {
      const installed = existsSync(file);
      if (!installed) return { installed, running: false, file, logs, detail: "not installed" };
      const state = await show();
      const pid = Number(state.MainPID);
      const since = showTimestamp(state.ExecMainStartTimestamp);
      return {
        installed,
        running: state.ActiveState === "active",
        ...(pid > 0 ? { pid } : {}),
        ...(since ? { since } : {}),
        file,
        logs,
        detail: `${state.ActiveState ?? "unknown"} (${state.SubState ?? "unknown"}), ${state.UnitFileState ?? "unknown"}`,
      };
    },
    async uninstall(): Promise<UninstallResult> {
      if (!existsSync(file)) return { changed: false, removed: [] };
      await requireManager();
      // disable --now: stops the daemon and removes the default.target.wants link enable made.
      await runService(context, systemctl("disable", "--now", UNIT), "stop and disable the gotunnel unit");
      const removed = removeDefinition(file);
      await runService(context, systemctl("daemon-reload"), "reload systemd's user units");
      // A unit that failed before stays listed as failed until reset; it is gone now.
      const reset = systemctl("reset-failed", UNIT);
      const result = await context.runner.run(reset);
      if (result.code !== 0 && !/not loaded|not found/i.test(result.stderr)) {
        throw new GotunnelError("E_SERVICE", `\`${reset.join(" ")}\` failed: ${result.stderr.trim()}`);
      }
      return { changed: true, removed };
    },
    portAccess: (ports, program) => linuxPortAccess(context, ports, program),
  };
}
