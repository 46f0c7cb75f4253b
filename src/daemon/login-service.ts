/**
 * `gotunnel service install|status|uninstall`: the daemon as a login service of this user (platform/service/). Install
 * checks first that the daemon may listen on its ports as the user, and takes the one privileged step that allows it
 * only after saying why; then it hands the running on-demand daemon over to the service, and waits until the
 * service's daemon answers on the control socket.
 */
import { GotunnelError } from "../core/errors.ts";
import { userName } from "../platform/owner.ts";
import type { Paths } from "../platform/paths.ts";
import { formatCommand } from "../platform/runner.ts";
import type { LoginService, PortAccess, ServiceContext, ServiceSpec, ServiceState } from "../platform/service/index.ts";
import { isNotRunning } from "./control/client.ts";
import type { StatusResponse } from "./control/protocol.ts";
import { runningDaemon, stopDaemon } from "./spawn.ts";

/** The service's daemon creates the CA and binds in well under a second; this bound only catches one that hangs. */
const SERVICE_READY_TIMEOUT_MS = 15_000;
const POLL_MS = 100;

export type PortsDenied = Extract<PortAccess, { ok: false }>;

export interface InstallOptions {
  paths: Paths;
  service: LoginService;
  context: ServiceContext;
  spec: ServiceSpec;
  ports: { https: number; http: number };
  /**
   * Told the ports need the privileged step. Returns true after announcing it when the step may run here (a terminal
   * to type the sudo password in), false when the command must stop and show the step instead.
   */
  confirmPrivileged(denied: PortsDenied): boolean;
}

export interface InstallReport {
  kind: string;
  file: string;
  changed: boolean;
  ports: { https: number; http: number };
  /** How the daemon may use its ports as the user ("… has cap_net_bind_service", "ports from 1024 up …"). */
  portAccess: string;
  /** The on-demand daemon that was stopped so the service's daemon could take over. */
  replacedPid?: number;
  daemon: { pid: number; ports: { https: number; http: number } };
  logs: string;
}

export async function installService(options: InstallOptions): Promise<InstallReport> {
  const { service, context, spec, paths } = options;
  refuseRoot(context);
  const ports = [options.ports.https, options.ports.http];
  const access = await allowPorts(options, await service.portAccess(ports, spec.program));
  const before = await service.status();
  // A daemon started on demand holds the lock; the service's would fail to start until it is gone.
  const replacedPid = before.running ? undefined : await stopDaemon(paths);
  const result = await service.install(spec);
  const status = await waitForDaemon(paths, before.logs);
  return {
    kind: service.kind,
    file: service.file,
    changed: result.changed,
    ports: options.ports,
    portAccess: access,
    ...(replacedPid === undefined ? {} : { replacedPid }),
    daemon: { pid: status.pid, ports: status.ports },
    logs: before.logs,
  };
}

function refuseRoot(context: ServiceContext): void {
  if (context.uid !== 0) return;
  throw new GotunnelError("E_USAGE", "`gotunnel service install` sets the daemon up to run as you, not as root", {
    hint: "run it as your own user, without sudo: it asks for sudo itself for the one step that needs it",
  });
}

async function allowPorts(options: InstallOptions, access: PortAccess): Promise<string> {
  if (access.ok) return access.how;
  const portFlags = "--proxy-https-port 8443 --proxy-http-port 8080";
  const { fix } = access;
  if (!fix || !options.confirmPrivileged(access)) {
    const step = fix
      ? `Run \`${formatCommand(fix)}\` once, then \`gotunnel service install\` again; or install`
      : "Install";
    throw new GotunnelError("E_PORT_PRIVILEGED", `the daemon cannot listen on ${access.ports.join(" and ")} as you`, {
      hint: `${access.why}. ${step} with \`${portFlags}\``,
      details: { ports: access.ports, ...(fix ? { fix } : {}) },
    });
  }
  const result = await options.context.runner.run(fix);
  if (result.code !== 0) {
    const said = (result.stderr || result.stdout).trim().split("\n").slice(-2).join(" / ");
    throw new GotunnelError("E_PORT_PRIVILEGED", `\`${formatCommand(fix)}\` failed (exit ${result.code})`, {
      hint: `${said ? `it said: ${said}. ` : ""}Run it yourself, or install with \`${portFlags}\``,
      details: { fix, code: result.code },
    });
  }
  return `${fix.at(-1)} now has cap_net_bind_service (\`sudo setcap -r ${fix.at(-1)}\` removes it)`;
}

async function waitForDaemon(paths: Paths, logs: string): Promise<StatusResponse> {
  const client = runningDaemon(paths);
  const deadline = Date.now() + SERVICE_READY_TIMEOUT_MS;
  for (;;) {
    const status = await client.status().catch((error: unknown) => {
      if (isNotRunning(error)) return undefined;
      throw error;
    });
    if (status) return status;
    if (Date.now() > deadline) {
      throw new GotunnelError(
        "E_SERVICE",
        `the service is installed, but its daemon did not answer within ${SERVICE_READY_TIMEOUT_MS / 1000} s`,
        { hint: `see its log: ${logs}` },
      );
    }
    await Bun.sleep(POLL_MS);
  }
}

export interface StatusReport {
  kind: string;
  service: ServiceState;
  /** The login name the daemon runs as. */
  user: string;
  /** What the running daemon says (undefined when none answers). */
  daemon?: { pid: number; ports: { https: number; http: number }; startedAt: string; version: string };
}

export async function serviceStatus(
  paths: Paths,
  service: LoginService,
  context: ServiceContext,
): Promise<StatusReport> {
  const state = await service.status();
  const status = await runningDaemon(paths)
    .status()
    .catch((error: unknown) => {
      if (isNotRunning(error)) return undefined;
      throw error;
    });
  const daemon = status && {
    pid: status.pid,
    ports: status.ports,
    startedAt: status.startedAt,
    version: status.version,
  };
  const user = daemon ? processUser(context, daemon.pid) : undefined;
  return { kind: service.kind, service: state, user: user ?? context.user, ...(daemon ? { daemon } : {}) };
}

/** Who a process runs as, where /proc says (Linux); undefined elsewhere. */
function processUser(context: ServiceContext, pid: number): string | undefined {
  const uid = /^Uid:\s+(\d+)/m.exec(context.readText(`/proc/${pid}/status`) ?? "")?.[1];
  return uid === undefined ? undefined : userName(Number(uid));
}
