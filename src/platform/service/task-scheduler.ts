/**
 * Windows: a Task Scheduler task `\gotunnel` that runs at the user's logon as that user, without elevation
 * (LogonType InteractiveToken, RunLevel LeastPrivilege), registered from a Task XML document (the Task Scheduler
 * schema, version 1.2) with `schtasks /Create /XML`. It has no time limit and is restarted after a failure. The
 * daemon writes its log to `%LOCALAPPDATA%\gotunnel\state\daemon.log` itself (`gotunnel daemon --log-file`), since a
 * task's output goes nowhere. schtasks reads the XML file only while creating the task, so the file is removed again
 * right away: uninstall has only the task to delete.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeDirs } from "./owned-files.ts";
import {
  type InstallResult,
  type LoginService,
  type PortAccess,
  runService,
  SERVICE_NAME,
  type ServiceContext,
  type ServiceSpec,
  type ServiceState,
  serviceCommandError,
  type UninstallResult,
} from "./types.ts";

const TASK = `\\${SERVICE_NAME}`;
/** Task Scheduler's smallest restart interval is one minute (RestartOnFailure/Interval, PT1M). */
const RESTART_INTERVAL = "PT1M";
const RESTART_COUNT = 999;

function xml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

/**
 * One argument as the C runtime's command-line parser reads it (CommandLineToArgvW rules): quoted when it has
 * spaces, tabs or quotes; backslashes doubled only before a quote.
 */
export function windowsArg(arg: string): string {
  if (arg !== "" && !/[\s"]/.test(arg)) return arg;
  const body = arg.replace(/(\\*)"/g, '$1$1\\"').replace(/(\\+)$/, "$1$1");
  return `"${body}"`;
}

/** `DOMAIN\user`, the form Task Scheduler's UserId takes. */
export function windowsUser(env: Record<string, string | undefined>, fallback: string): string {
  const user = env.USERNAME || fallback;
  return env.USERDOMAIN ? `${env.USERDOMAIN}\\${user}` : user;
}

export function renderTaskXml(spec: ServiceSpec, userId: string, logFile: string): string {
  const args = [...spec.args, `--log-file=${logFile}`].map(windowsArg).join(" ");
  return [
    '<?xml version="1.0" encoding="UTF-16"?>',
    '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">',
    "  <RegistrationInfo>",
    "    <Description>gotunnel daemon: trusted HTTPS names for local dev servers (gotunnel service install)</Description>",
    `    <URI>${xml(TASK)}</URI>`,
    "  </RegistrationInfo>",
    "  <Triggers>",
    `    <LogonTrigger><Enabled>true</Enabled><UserId>${xml(userId)}</UserId></LogonTrigger>`,
    "  </Triggers>",
    "  <Principals>",
    '    <Principal id="Author">',
    `      <UserId>${xml(userId)}</UserId>`,
    "      <LogonType>InteractiveToken</LogonType>",
    "      <RunLevel>LeastPrivilege</RunLevel>",
    "    </Principal>",
    "  </Principals>",
    "  <Settings>",
    "    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>",
    "    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>",
    "    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>",
    "    <StartWhenAvailable>true</StartWhenAvailable>",
    // PT0S: no time limit; the default (72 hours) would stop the daemon.
    "    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>",
    `    <RestartOnFailure><Interval>${RESTART_INTERVAL}</Interval><Count>${RESTART_COUNT}</Count></RestartOnFailure>`,
    "    <Enabled>true</Enabled>",
    "  </Settings>",
    '  <Actions Context="Author">',
    "    <Exec>",
    `      <Command>${xml(spec.program)}</Command>`,
    `      <Arguments>${xml(args)}</Arguments>`,
    `      <WorkingDirectory>${xml(spec.workingDir)}</WorkingDirectory>`,
    "    </Exec>",
    "  </Actions>",
    "</Task>",
    "",
  ].join("\r\n");
}

/** UTF-16LE with a byte-order mark: the encoding the document declares and schtasks expects. */
export function utf16le(text: string): Uint8Array {
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]);
}

/** `schtasks /Query /FO CSV /NH` row: "TaskName","Next Run Time","Status". */
export function parseQuery(text: string): { status?: string } {
  const row = text.split(/\r?\n/).find((line) => line.includes(SERVICE_NAME));
  const fields = row?.match(/"([^"]*)"/g)?.map((field) => field.slice(1, -1));
  return fields?.[2] ? { status: fields[2] } : {};
}

export function taskSchedulerService(context: ServiceContext): LoginService {
  const userId = windowsUser(context.env, context.user);
  const logs = (workingDir: string) => join(workingDir, "daemon.log");

  async function query(): Promise<{ status?: string } | undefined> {
    const result = await context.runner.run(["schtasks", "/Query", "/TN", TASK, "/FO", "CSV", "/NH"]);
    return result.code === 0 ? parseQuery(result.stdout) : undefined;
  }

  return {
    kind: "Task Scheduler task",
    file: `Task Scheduler ${TASK}`,
    render: (spec) => [
      {
        path: join(spec.workingDir, "gotunnel-task.xml"),
        content: utf16le(renderTaskXml(spec, userId, logs(spec.workingDir))),
      },
    ],
    async install(spec: ServiceSpec): Promise<InstallResult> {
      makeDirs(spec.workingDir);
      const xmlFile = join(spec.workingDir, "gotunnel-task.xml");
      writeFileSync(xmlFile, utf16le(renderTaskXml(spec, userId, logs(spec.workingDir))));
      try {
        // /F replaces a task of that name: installing again is the same as installing once.
        await runService(context, ["schtasks", "/Create", "/TN", TASK, "/XML", xmlFile, "/F"], "create the task");
      } finally {
        rmSync(xmlFile, { force: true });
      }
      if ((await query())?.status !== "Running") {
        await runService(context, ["schtasks", "/Run", "/TN", TASK], "start the task");
      }
      return { changed: true, files: [] };
    },
    async status(): Promise<ServiceState> {
      const state = await query();
      const file = `Task Scheduler ${TASK}`;
      const logFile = logs(context.stateDir);
      if (!state) return { installed: false, running: false, file, logs: logFile, detail: "not installed" };
      return {
        installed: true,
        running: state.status === "Running",
        file,
        logs: logFile,
        detail: state.status ?? "unknown",
      };
    },
    async uninstall(): Promise<UninstallResult> {
      if (!(await query())) return { changed: false, removed: [] };
      const end = ["schtasks", "/End", "/TN", TASK];
      const ended = await context.runner.run(end);
      // /End of a task that is not running fails; only a task that is still running after it matters.
      if (ended.code !== 0 && (await query())?.status === "Running")
        throw serviceCommandError(end, ended, "stop the task");
      await runService(context, ["schtasks", "/Delete", "/TN", TASK, "/F"], "delete the task");
      return { changed: true, removed: [`Task Scheduler ${TASK}`] };
    },
    // Windows has no privileged ports: any user may listen on 443 and 80 (when nothing else holds them).
    portAccess: async (): Promise<PortAccess> => ({ ok: true, how: "Windows has no privileged ports" }),
  };
}
