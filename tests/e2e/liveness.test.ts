/**
 * Whether a daemon runs is decided by its lock (a flock the kernel drops when the daemon dies), and a running daemon
 * stays findable. A daemon killed with -9 under a PID 1 that never reaps stays a zombie, which `kill(pid, 0)` calls
 * alive: the next `start` must replace it at once. A daemon whose control socket, runtime dir or lock file is removed
 * puts them back, and `status`, `list`, `start` and `daemon stop` reach it again instead of starting a second one.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  BINARY,
  binaryEnv,
  canBind,
  curl,
  daemonPid,
  freePort,
  hostsFileOf,
  lockFileOf,
  run,
  runGotunnel,
  until,
  waitForExit,
  withEchoUpstream,
} from "../helpers/e2e.ts";

const PORTS = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };
/** A pid namespace needs root (CAP_SYS_ADMIN) and util-linux's unshare and nsenter. */
const noPidNamespace =
  process.getuid?.() !== 0
    ? "needs root for a pid namespace"
    : Bun.which("unshare") === null || Bun.which("nsenter") === null
      ? "needs unshare and nsenter (util-linux)"
      : undefined;

const file = withEchoUpstream();
const { scope } = file;

function gotunnel(home: string, args: string[], env: Record<string, string> = PORTS) {
  return runGotunnel(args, { cwd: home, home, env });
}

async function routeNames(home: string): Promise<string[]> {
  const listed = await gotunnel(home, ["list", "--json"]);
  expect(listed.exitCode, listed.stderr).toBe(0);
  return (JSON.parse(listed.stdout) as { routes: { name: string }[] }).routes.map((route) => route.name).sort();
}

async function statusPid(home: string): Promise<number> {
  const status = await gotunnel(home, ["status", "--json"]);
  expect(status.exitCode, status.stderr).toBe(0);
  return (JSON.parse(status.stdout) as { pid: number }).pid;
}

/** A daemon with one route; returns its pid. */
async function startDaemon(home: string, env: Record<string, string> = PORTS): Promise<number> {
  const started = await gotunnel(home, ["start", "-d", "api", "-p", String(file.upstream.port)], env);
  expect(started.exitCode, started.stderr).toBe(0);
  return statusPid(home);
}

/** The first child of `pid` (host pids), from /proc; undefined while it has none. */
function childOf(pid: number): number | undefined {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
  return children === "" ? undefined : Number(children.split(" ")[0]);
}

/** `State:` from /proc/<pid>/status: "Z" for a zombie; undefined once the pid is gone. */
function processState(pid: number): string | undefined {
  try {
    return /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  } catch {
    return undefined; // No such process.
  }
}

const zombieTitle = `a daemon killed under a PID 1 that never reaps${noPidNamespace ? ` (skipped: ${noPidNamespace})` : ""}`;

describe.skipIf(noPidNamespace !== undefined)(zombieTitle, () => {
  test("stays a zombie, and the next start replaces it at once with a new daemon", async () => {
    const home = scope.dir("zombie");
    // PID 1 of a new pid namespace is `sleep`, which never calls wait(): like `docker run` without --init.
    const namespace = Bun.spawn(["unshare", "--fork", "--pid", "--mount-proc", "sleep", "infinity"], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "ignore",
    });
    const init = await until(() => childOf(namespace.pid));
    try {
      const inside = (args: string[]) =>
        run(["nsenter", "-t", String(init), "-p", "-m", BINARY, ...args], { cwd: home, env: binaryEnv(home, PORTS) });
      const first = await inside(["start", "-d", "api", "-p", String(file.upstream.port)]);
      expect(first.exitCode, first.stderr).toBe(0);
      // The command that started the daemon has exited, so the daemon is now a child of that PID 1.
      const killed = childOf(init ?? 0) ?? 0;
      process.kill(killed, "SIGKILL");
      expect(await until(() => (processState(killed) === "Z" ? true : undefined))).toBe(true);
      // The trap: signal 0 still finds the zombie.
      expect(() => process.kill(killed, 0)).not.toThrow();

      const second = await inside(["start", "-d", "web", "-p", String(file.upstream.port)]);
      expect(second.exitCode, second.stderr).toBe(0);
      const replacement = daemonPid(home);
      expect(replacement).toBeNumber();
      expect(replacement).not.toBe(killed);
      expect(processState(killed)).toBe("Z");
      expect(await routeNames(home)).toEqual(["api.local", "web.local"]);
    } finally {
      // PID 1 gone: the kernel kills everything in its namespace, the new daemon included.
      if (init !== undefined) process.kill(init, "SIGKILL");
      await namespace.exited;
    }
  }, 60_000);
});

describe("a daemon whose control socket or runtime dir is removed", () => {
  test("rm control.sock: status, list and start reach the same daemon, which listens again", async () => {
    const home = scope.dir("socket");
    const pid = await startDaemon(home);
    const socket = join(home, "run", "control.sock");
    rmSync(socket);
    expect(await statusPid(home)).toBe(pid);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    rmSync(socket);
    expect(await routeNames(home)).toEqual(["api.local"]);
    rmSync(socket);
    const started = await gotunnel(home, ["start", "-d", "web", "-p", String(file.upstream.port)]);
    expect(started.exitCode, started.stderr).toBe(0);
    expect(await routeNames(home)).toEqual(["api.local", "web.local"]);
    expect(daemonPid(home)).toBe(pid);
    expect(readFileSync(join(home, "state", "daemon.log"), "utf8")).toContain(`${socket} was removed`);
  }, 60_000);

  test("an `up` session outlives its socket being replaced: its routes stay and its requests still stream", async () => {
    const home = scope.dir("session");
    const shop = scope.project({
      "gotunnel.config.json": JSON.stringify({ routes: { "shop.local": file.upstream.port } }),
    });
    const up = await scope.start(["up"], { cwd: shop, home, env: PORTS });
    rmSync(join(home, "run", "control.sock"));
    expect(await routeNames(home)).toEqual(["shop.local"]);
    const served = await curl(`https://shop.local:${up.httpsPort}/text`, { ca: up.caPath });
    expect(served.stdout).toBe("hello from upstream");
    // The session's stream came through the replaced socket's server, which lets it run on.
    expect(await until(() => up.requestLog().find((record) => record.path === "/text"))).toBeDefined();
    expect(up.proc.exitCode).toBeNull();
  }, 60_000);

  test("rm -rf the runtime dir: start, status and list reach the same daemon", async () => {
    const home = scope.dir("rundir");
    const pid = await startDaemon(home);
    const runtimeDir = join(home, "run");
    rmSync(runtimeDir, { recursive: true });
    const started = await gotunnel(home, ["start", "-d", "web", "-p", String(file.upstream.port)]);
    expect(started.exitCode, started.stderr).toBe(0);
    // The same daemon took the route: no second one was started next to it.
    expect(await statusPid(home)).toBe(pid);
    expect(daemonPid(home)).toBe(pid);
    expect(statSync(runtimeDir).mode & 0o777).toBe(0o700);
    rmSync(runtimeDir, { recursive: true });
    expect(await statusPid(home)).toBe(pid);
    rmSync(runtimeDir, { recursive: true });
    expect(await routeNames(home)).toEqual(["api.local", "web.local"]);
  }, 60_000);

  test("daemon stop with the socket gone stops the daemon: its ports are free and its hosts entries gone", async () => {
    const home = scope.dir("stop");
    const ports = {
      GOTUNNEL_PROXY_HTTPS_PORT: String(await freePort()),
      GOTUNNEL_PROXY_HTTP_PORT: String(await freePort()),
    };
    const pid = await startDaemon(home, ports);
    expect(readFileSync(hostsFileOf(home), "utf8")).toContain("api.local");
    rmSync(join(home, "run"), { recursive: true });
    const stopped = await gotunnel(home, ["daemon", "stop"], ports);
    expect(stopped.exitCode, stopped.stderr).toBe(0);
    expect(stopped.stdout + stopped.stderr).toContain(`stopped the gotunnel daemon (pid ${pid})`);
    expect(daemonPid(home)).toBeUndefined();
    expect(await waitForExit(pid)).toBe(true);
    expect(canBind(Number(ports.GOTUNNEL_PROXY_HTTPS_PORT))).toBe(true);
    expect(canBind(Number(ports.GOTUNNEL_PROXY_HTTP_PORT))).toBe(true);
    expect(readFileSync(hostsFileOf(home), "utf8")).not.toContain("api.local");
  }, 60_000);

  test("a daemon that cannot listen again is named with its log, and daemon stop still stops it", async () => {
    const home = scope.dir("blocked");
    const pid = await startDaemon(home);
    // A file where the runtime dir was: the daemon cannot re-create its socket there.
    rmSync(join(home, "run"), { recursive: true });
    writeFileSync(join(home, "run"), "");
    const status = await gotunnel(home, ["status"]);
    expect(status.exitCode).toBe(7);
    expect(status.stderr).toContain(`the gotunnel daemon (pid ${pid}) runs but does not answer on`);
    expect(status.stderr).toContain(join(home, "state", "daemon.log"));
    const stopped = await gotunnel(home, ["daemon", "stop"]);
    expect(stopped.exitCode, stopped.stderr).toBe(0);
    expect(daemonPid(home)).toBeUndefined();
  }, 60_000);

  test("rm the lock file: the daemon locks a new one, and a second daemon refuses to start meanwhile", async () => {
    const home = scope.dir("lockfile");
    const pid = await startDaemon(home);
    rmSync(lockFileOf(home));
    const second = await gotunnel(home, ["daemon"]);
    expect(second.exitCode).toBe(7);
    expect(second.stderr).toMatch(/a gotunnel daemon (is )?already (running|listens)/);
    expect(await until(() => daemonPid(home))).toBe(pid);
    expect(readFileSync(lockFileOf(home), "utf8").trim()).toBe(String(pid));
    expect(await statusPid(home)).toBe(pid);
  }, 60_000);
});
