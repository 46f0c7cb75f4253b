/**
 * macOS: a LaunchAgent, `~/Library/LaunchAgents/dev.gotunnel.daemon.plist` (launchd.plist(5)), loaded into the
 * user's GUI domain with `launchctl bootstrap gui/<uid>`: launchd starts it at login (RunAtLoad), restarts it when
 * it exits with an error (KeepAlive SuccessfulExit=false), and appends its output to
 * `~/Library/Logs/gotunnel/daemon.log`, which Console.app lists under "Log Reports".
 */
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { portBind } from "../privileged-ports.ts";
import { CREATED_DIRS_MARKER, makeDirs, removeDefinition, writeDefinition } from "./owned-files.ts";
import {
  type InstallResult,
  LAUNCHD_LABEL,
  type LoginService,
  type PortAccess,
  runService,
  type ServiceContext,
  type ServiceSpec,
  type ServiceState,
  serviceCommandError,
  type UninstallResult,
} from "./types.ts";

/** `launchctl print` exits with 113 ("Could not find service") for a label that is not loaded. */
const NOT_LOADED_EXIT = 113;

export function launchdLogFile(home: string): string {
  return join(home, "Library", "Logs", "gotunnel", "daemon.log");
}

function xml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

const str = (value: string) => `<string>${xml(value)}</string>`;

export function renderPlist(spec: ServiceSpec, logFile: string, createdDirs: readonly string[] = []): string {
  const env = Object.entries(spec.env);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    "<!-- Written by `gotunnel service install`; `gotunnel service uninstall` removes it. -->",
    // "--" may not appear inside an XML comment; JSON of paths never has it unless a path does, so escape it.
    `<!-- ${CREATED_DIRS_MARKER}${JSON.stringify(createdDirs).replaceAll("--", "-\\u002d")} -->`,
    '<plist version="1.0">',
    "<dict>",
    `  <key>Label</key>${str(LAUNCHD_LABEL)}`,
    "  <key>ProgramArguments</key>",
    "  <array>",
    ...[spec.program, ...spec.args].map((arg) => `    ${str(arg)}`),
    "  </array>",
    `  <key>WorkingDirectory</key>${str(spec.workingDir)}`,
    ...(env.length === 0
      ? []
      : [
          "  <key>EnvironmentVariables</key>",
          "  <dict>",
          ...env.map(([k, v]) => `    <key>${xml(k)}</key>${str(v)}`),
          "  </dict>",
        ]),
    "  <key>RunAtLoad</key><true/>",
    // Restart after a crash or a failed start, not after a clean `gotunnel daemon stop` (exit 0).
    "  <key>KeepAlive</key>",
    "  <dict><key>SuccessfulExit</key><false/></dict>",
    `  <key>StandardOutPath</key>${str(logFile)}`,
    `  <key>StandardErrorPath</key>${str(logFile)}`,
    "</dict>",
    "</plist>",
    "",
  ].join("\n");
}

/** `launchctl print` lines such as `\tstate = running` and `\tpid = 812`. */
export function parsePrint(text: string): { state?: string; pid?: number } {
  const state = /^\s*state = (.+)$/m.exec(text)?.[1]?.trim();
  const pid = Number(/^\s*pid = (\d+)$/m.exec(text)?.[1]);
  return { ...(state ? { state } : {}), ...(pid > 0 ? { pid } : {}) };
}

export function launchdService(context: ServiceContext): LoginService {
  const file = join(context.home, "Library", "LaunchAgents", `${LAUNCHD_LABEL}.plist`);
  const logFile = launchdLogFile(context.home);
  const domain = `gui/${context.uid}`;
  const target = `${domain}/${LAUNCHD_LABEL}`;

  async function print(): Promise<{ loaded: boolean; state?: string; pid?: number }> {
    const argv = ["launchctl", "print", target];
    const result = await context.runner.run(argv);
    if (result.code === NOT_LOADED_EXIT) return { loaded: false };
    if (result.code !== 0) throw serviceCommandError(argv, result, "read the LaunchAgent's state");
    return { loaded: true, ...parsePrint(result.stdout) };
  }

  /** bootout of a job that is not loaded fails; that is the state we wanted. */
  async function bootout(): Promise<void> {
    const loaded = await print();
    if (loaded.loaded) await runService(context, ["launchctl", "bootout", target], "unload the LaunchAgent");
  }

  return {
    kind: "LaunchAgent",
    file,
    render: (spec) => [{ path: file, content: renderPlist(spec, logFile) }],
    async install(spec: ServiceSpec): Promise<InstallResult> {
      const logDirs = makeDirs(join(logFile, ".."));
      const changed = writeDefinition(file, (created) => renderPlist(spec, logFile, [...created, ...logDirs]));
      const now = changed ? undefined : await print();
      if (now?.state === "running") return { changed: false, files: [file] };
      // A changed plist takes effect only through unload and load (launchctl(1) bootstrap/bootout).
      await bootout();
      await runService(context, ["launchctl", "enable", target], "enable the LaunchAgent");
      await runService(context, ["launchctl", "bootstrap", domain, file], "load the LaunchAgent");
      return { changed: true, files: [file] };
    },
    async status(): Promise<ServiceState> {
      const installed = existsSync(file);
      if (!installed) return { installed, running: false, file, logs: logFile, detail: "not installed" };
      const now = await print();
      return {
        installed,
        running: now.state === "running",
        ...(now.pid ? { pid: now.pid } : {}),
        file,
        logs: logFile,
        detail: now.loaded ? `state = ${now.state ?? "unknown"}` : "not loaded",
      };
    },
    async uninstall(): Promise<UninstallResult> {
      if (!existsSync(file)) return { changed: false, removed: [] };
      await bootout();
      const logs = existsSync(logFile) ? [logFile] : [];
      rmSync(logFile, { force: true });
      return { changed: true, removed: [...removeDefinition(file), ...logs] };
    },
    // Since macOS 10.14 any user may listen on ports below 1024 on the wildcard address (privileged-ports.ts has
    // the sources); the daemon listens there for them, and its LAN guard keeps routes that are not shared private.
    portAccess: async (ports: readonly number[]): Promise<PortAccess> => {
      const low = ports.filter(
        (port) => portBind({ platform: "darwin", uid: context.uid, port, configuredHost: undefined }).guarded,
      );
      if (low.length === 0) return { ok: true, how: "ports from 1024 up need no privilege" };
      return {
        ok: true,
        how:
          `no sudo needed: macOS 10.14+ lets you listen on ${low.join(" and ")} on every address, so the daemon ` +
          "listens there and refuses other machines every route that is not shared on the LAN",
      };
    },
  };
}
