/** `gotunnel service install|status|uninstall`: the daemon as this user's login service (daemon/login-service.ts). */
import { loadConfig } from "../config/load.ts";
import { GotunnelError } from "../core/errors.ts";
import type { PortsDenied } from "../daemon/login-service.ts";
import { selfCommand } from "../daemon/spawn.ts";
import { resolvePaths } from "../platform/paths.ts";
import { formatCommand } from "../platform/runner.ts";
import { loginService, serviceContext, serviceSpec } from "../platform/service/index.ts";
import { daemonArgs, daemonOverrides, jsonArg } from "./args.ts";
import { command } from "./command.ts";
import { info, printJson, printPairs, success, warn } from "./output.ts";

function here() {
  const paths = resolvePaths();
  const context = serviceContext(paths.stateDir);
  const service = loginService(context);
  if (!service) {
    throw new GotunnelError("E_SERVICE", `gotunnel has no login service for ${process.platform}`, {
      hint: "the daemon still starts on demand: any command that needs it starts it",
    });
  }
  return { paths, context, service };
}

/** Says why the one privileged step is needed, and runs it only where a sudo password can be typed. */
function confirmPrivileged(json: boolean) {
  return (denied: PortsDenied): boolean => {
    if (json || process.stdin.isTTY !== true || !denied.fix) return false;
    info(`needs sudo once, because ${denied.why}. Running \`${formatCommand(denied.fix)}\`:`);
    return true;
  };
}

const install = command({
  meta: {
    name: "install",
    description: "Start the daemon at login as you, restart it after a crash (idempotent)",
    examples: [
      ["gotunnel service install", "asks for sudo once on Linux, to let this binary listen on 443 and 80"],
      ["gotunnel service install --proxy-https-port 8443 --proxy-http-port 8080", "no privileged ports, no sudo"],
    ],
  },
  args: { ...daemonArgs, ...jsonArg },
  async run({ args }) {
    const { paths, context, service } = here();
    const { config } = await loadConfig({ cwd: paths.stateDir, overrides: daemonOverrides(args) });
    const ports = { https: config.proxy.httpsPort, http: config.proxy.httpPort };
    const flags = [`--proxy-https-port=${ports.https}`, `--proxy-http-port=${ports.http}`];
    const spec = serviceSpec({ command: selfCommand(), flags, env: process.env, stateDir: paths.stateDir });
    const { installService } = await import("../daemon/login-service.ts");
    const report = await installService({
      paths,
      service,
      context,
      spec,
      ports,
      confirmPrivileged: confirmPrivileged(args.json === true),
    });
    if (args.json) return printJson(report);
    if (report.replacedPid !== undefined) info(`stopped the daemon started on demand (pid ${report.replacedPid})`);
    success(report.changed ? `installed the ${report.kind}` : `the ${report.kind} was installed already`);
    printPairs([
      ["file", report.file],
      ["daemon", `pid ${report.daemon.pid}, https ${report.daemon.ports.https}, http ${report.daemon.ports.http}`],
      ["ports", report.portAccess],
      ["logs", report.logs],
    ]);
  },
});

const status = command({
  meta: {
    name: "status",
    description: "Is the service installed and running: since when, as whom, ports, logs",
    examples: [["gotunnel service status"], ["gotunnel service status --json"]],
  },
  args: { ...jsonArg },
  async run({ args }) {
    const { paths, context, service } = here();
    const { serviceStatus } = await import("../daemon/login-service.ts");
    const report = await serviceStatus(paths, service, context);
    if (args.json) return printJson(report);
    const { service: state, daemon } = report;
    printPairs([
      ["service", `${report.kind}: ${state.installed ? state.detail : "not installed"}`],
      ["file", state.file],
      ...(state.since ? [["since", state.since] as [string, string]] : []),
      ["user", report.user],
      [
        "daemon",
        daemon
          ? `pid ${daemon.pid}, https ${daemon.ports.https}, http ${daemon.ports.http}, up since ${daemon.startedAt}`
          : "not running",
      ],
      ["logs", state.logs],
    ]);
    if (!state.installed) info("`gotunnel service install` starts the daemon at login");
    else if (!state.running) warn(`the service is not running: see its log (${state.logs})`);
  },
});

const uninstall = command({
  meta: {
    name: "uninstall",
    description: "Stop the service and remove every file install added",
    examples: [["gotunnel service uninstall", "the exact inverse of install"]],
  },
  args: { ...jsonArg },
  async run({ args }) {
    const { service } = here();
    const result = await service.uninstall();
    if (args.json) return printJson({ kind: service.kind, ...result });
    if (!result.changed) return info(`no ${service.kind} of gotunnel is installed`);
    success(`removed the ${service.kind} and stopped its daemon`);
    printPairs(result.removed.map((file) => ["removed", file]));
  },
});

export default command({
  meta: {
    name: "service",
    description: "Run the daemon as your login service (install, status, uninstall)",
    usage: ["install [options]", "status [--json]", "uninstall [--json]"],
    examples: [
      ["gotunnel service install", "once; the daemon then starts at every login"],
      ["gotunnel service status", "running? since when, as whom, which ports, where its logs are"],
      ["gotunnel service uninstall"],
    ],
  },
  subCommands: { install, status, uninstall },
});
