/**
 * `gotunnel doctor` (setup): what is set up on this machine for a rootless gotunnel, and for each thing that is
 * missing, the one command that fixes it. Read-only. The pieces: the daemon (running, and not as root), the login
 * service, the right to listen on 443 and 80 as the user, the CA's trust, how names resolve (`.localhost` by itself,
 * `.local` by mDNS), and the hosts file, which only routes under other suffixes need.
 */
import { accessSync, constants, existsSync } from "node:fs";
import type { ConfigOverrides } from "../config/load.ts";
import { loadConfig } from "../config/load.ts";
import { hostsFilePath } from "../hosts/index.ts";
import type { OsInfo } from "../platform/detect.ts";
import { localNameResolution } from "../platform/local-names.ts";
import { userName } from "../platform/owner.ts";
import { type Paths, resolvePaths } from "../platform/paths.ts";
import { formatCommand } from "../platform/runner.ts";
import { type LoginService, loginService, type ServiceContext, serviceContext } from "../platform/service/index.ts";
import { WSL_WINDOWS_HOSTS, windowsReach } from "../platform/wsl.ts";
import type { TrustedCA, TrustStore } from "../tls/truststore/index.ts";
import { isNotRunning } from "./control/client.ts";
import { routesResponseSchema } from "./control/protocol.ts";
import { runningDaemon, selfCommand } from "./spawn.ts";

export interface SetupCheck {
  name: string;
  ok: boolean;
  detail: string;
  /** The one command that fixes it. */
  fix?: string;
  /** Nothing is wrong without it; it only adds something (the hosts file for other suffixes). */
  optional?: boolean;
}

export interface SetupInput {
  paths: Paths;
  os: OsInfo;
  service: LoginService | undefined;
  context: ServiceContext;
  ports: { https: number; http: number };
  program: string;
  ca: TrustedCA | undefined;
  stores: TrustStore[];
  hostsFile: string;
  exists(path: string): boolean;
}

/** Suffixes that resolve with no hosts entry: RFC 6761 §6.3 (.localhost) and RFC 6762 (.local, by mDNS). */
const SELF_RESOLVING = [".localhost", ".local"];

export async function setupReport(input: SetupInput): Promise<SetupCheck[]> {
  const daemon = await daemonFacts(input);
  return [
    daemonCheck(daemon),
    await serviceCheck(input),
    await portsCheck(input),
    await trustCheck(input),
    {
      name: ".localhost names",
      ok: true,
      detail: "browsers and curl resolve them to loopback by themselves (RFC 6761)",
    },
    localCheck(input),
    hostsCheck(input, daemon?.names ?? []),
    ...(input.os.wsl ? [windowsBrowsersCheck(input, daemon?.names ?? [])] : []),
  ];
}

interface DaemonFacts {
  pid: number;
  user: string | undefined;
  names: string[];
}

async function daemonFacts({ paths, context }: SetupInput): Promise<DaemonFacts | undefined> {
  const client = runningDaemon(paths);
  const status = await client.status().catch((error: unknown) => {
    if (isNotRunning(error)) return undefined;
    throw error;
  });
  if (!status) return undefined;
  const { routes } = await client.request("GET", "/v1/routes", routesResponseSchema);
  const uid = /^Uid:\s+(\d+)/m.exec(context.readText(`/proc/${status.pid}/status`) ?? "")?.[1];
  return {
    pid: status.pid,
    user: uid === undefined ? undefined : userName(Number(uid)),
    names: routes.map((r) => r.name),
  };
}

function daemonCheck(daemon: DaemonFacts | undefined): SetupCheck {
  if (!daemon) return { name: "daemon", ok: true, detail: "not running: the next command that needs it starts it" };
  if (daemon.user === "root") {
    return {
      name: "daemon",
      ok: false,
      detail: `pid ${daemon.pid} runs as root (started with sudo); it needs no root`,
      fix: "gotunnel daemon stop && gotunnel service install",
    };
  }
  return { name: "daemon", ok: true, detail: `pid ${daemon.pid}${daemon.user ? `, as ${daemon.user}` : ""}` };
}

async function serviceCheck({ service }: SetupInput): Promise<SetupCheck> {
  const name = "login service";
  if (!service) return { name, ok: true, detail: "none on this OS: the daemon starts on demand" };
  const state = await service.status().catch((error: unknown) => ({ error }));
  if ("error" in state) return { name, ok: false, detail: `${service.kind}: ${String(state.error)}` };
  if (!state.installed) {
    return {
      name,
      ok: false,
      detail: `no ${service.kind}: the daemon stops at logout`,
      fix: "gotunnel service install",
    };
  }
  if (!state.running) {
    return {
      name,
      ok: false,
      detail: `${service.kind} installed but ${state.detail} (logs: ${state.logs})`,
      fix: "gotunnel service install",
    };
  }
  return { name, ok: true, detail: `${service.kind} running (${state.file})` };
}

async function portsCheck({ service, ports, program }: SetupInput): Promise<SetupCheck> {
  const name = `ports ${ports.https} and ${ports.http}`;
  if (!service) return { name, ok: true, detail: "not checked on this OS" };
  const access = await service.portAccess([ports.https, ports.http], program);
  if (access.ok) return { name, ok: true, detail: access.how };
  if (!access.fix)
    return {
      name,
      ok: false,
      detail: access.why,
      fix: "gotunnel service install --proxy-https-port 8443 --proxy-http-port 8080",
    };
  return { name, ok: false, detail: `needs sudo once: ${access.why}`, fix: formatCommand(access.fix) };
}

async function trustCheck({ ca, stores }: SetupInput): Promise<SetupCheck> {
  const name = "CA trust";
  if (!ca) return { name, ok: false, detail: "no CA yet", fix: "gotunnel trust" };
  const untrusted: string[] = [];
  const trusted: string[] = [];
  for (const store of stores) {
    if (!(await store.detect()).ok) continue;
    ((await store.isTrusted(ca)) ? trusted : untrusted).push(store.id);
  }
  if (untrusted.length > 0)
    return { name, ok: false, detail: `not trusted by ${untrusted.join(", ")}`, fix: "gotunnel trust" };
  return { name, ok: true, detail: trusted.length > 0 ? `trusted by ${trusted.join(", ")}` : "no trust store found" };
}

function localCheck({ os, context, exists }: SetupInput): SetupCheck {
  const resolution = localNameResolution(os, context.readText, exists);
  if (resolution.ok)
    return { name: ".local names", ok: true, detail: `${resolution.how}; gotunnel answers for shared routes` };
  return {
    name: ".local names",
    ok: false,
    detail: resolution.why,
    ...(resolution.fix ? { fix: resolution.fix } : {}),
  };
}

/** Write access for this user, as the daemon (running as this user) would need it. */
function writable(file: string): boolean {
  try {
    accessSync(file, constants.W_OK);
    return true;
  } catch (error) {
    if (["EACCES", "EPERM", "EROFS", "ENOENT"].includes((error as NodeJS.ErrnoException).code ?? "")) return false;
    throw error;
  }
}

function hostsCheck({ hostsFile, os, context }: SetupInput, names: string[]): SetupCheck {
  const base = { name: "hosts file", optional: true };
  const needing = names.filter((name) => !name.startsWith("*.") && !SELF_RESOLVING.some((s) => name.endsWith(s)));
  if (needing.length === 0) {
    return {
      ...base,
      ok: true,
      detail: "not needed: no route outside .localhost and .local (optional step, see README)",
    };
  }
  if (writable(hostsFile)) {
    return { ...base, ok: true, detail: `${hostsFile} is writable by you: ${needing.join(", ")} get entries` };
  }
  const fix = hostsWriteFix(os.platform, context.user, hostsFile);
  return {
    ...base,
    ok: false,
    detail: `${needing.join(", ")} need a hosts entry, and ${hostsFile} is not writable by you`,
    fix,
  };
}

/**
 * WSL only: which routes a browser on Windows reaches (platform/wsl.ts). Optional like the hosts file: the routes
 * work from Linux either way. The fix is a command for an Administrator PowerShell; gotunnel never writes it itself.
 */
function windowsBrowsersCheck({ context }: SetupInput, names: string[]): SetupCheck {
  const base = { name: "Windows browsers", optional: true };
  const reach = windowsReach(names, context.readText(WSL_WINDOWS_HOSTS));
  if (!reach.command) {
    return {
      ...base,
      ok: true,
      detail:
        "they reach every route: .localhost names through WSL's localhost forwarding, others by the Windows hosts file",
    };
  }
  return {
    ...base,
    ok: false,
    detail:
      `${reach.missing.join(", ")} resolve only inside WSL; add them to the Windows hosts file ` +
      "(run the command in an Administrator PowerShell on Windows; .localhost names need nothing)",
    fix: reach.command,
  };
}

/**
 * The one step that lets this user's daemon keep its block current with no root per change: a POSIX ACL (Linux),
 * an access-control entry (macOS) or an ACE granting read and write (Windows, from an Administrator terminal; the
 * daemon then writes the file in place, as it may not create files in its directory). Each is for this user only, on
 * this one file, and undone by `setfacl -x` / `chmod -a` / `icacls /remove:g` (README).
 */
export function hostsWriteFix(platform: NodeJS.Platform, user: string, hostsFile: string): string {
  if (platform === "darwin") return `sudo chmod +a "${user} allow write" ${hostsFile}`;
  if (platform === "win32") return `icacls "${hostsFile}" /grant "${user}:(R,W)"`;
  return `sudo setfacl -m u:${user}:rw ${hostsFile}`;
}

/** The report for this machine: this user's config, paths, CA, trust stores and login service. */
export async function setupChecks(overrides: ConfigOverrides): Promise<SetupCheck[]> {
  const paths = resolvePaths();
  const { config } = await loadConfig({ cwd: paths.stateDir, overrides });
  const { loadCA } = await (await import("../tls/load.ts")).loadTls();
  const ca = await loadCA(paths.caDir);
  const { storeContext, trustStores } = await import("../tls/truststore/index.ts");
  const stores = storeContext();
  const context = serviceContext(paths.stateDir);
  return setupReport({
    paths,
    os: stores.os,
    service: loginService(context),
    context,
    ports: { https: config.proxy.httpsPort, http: config.proxy.httpPort },
    program: selfCommand()[0] ?? process.execPath,
    ca: ca ?? undefined,
    stores: trustStores(stores),
    hostsFile: hostsFilePath(),
    exists: existsSync,
  });
}
