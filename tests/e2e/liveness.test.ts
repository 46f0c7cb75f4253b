/**
 * Whether a daemon runs is decided by its lock (a flock the kernel drops when the daemon dies), and a running daemon
 * stays findable. A daemon killed with -9 under a PID 1 that never reaps stays a zombie, which `kill(pid, 0)` calls
 * alive: the next `start` must replace it at once.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { BINARY, binaryEnv, daemonPid, E2EScope, requireBinary, run, runGotunnel, until } from "../helpers/e2e.ts";
import { startEchoUpstream, type Upstream } from "../helpers/upstreams.ts";

const PORTS = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };
/** A pid namespace needs root (CAP_SYS_ADMIN) and util-linux's unshare and nsenter. */
const noPidNamespace =
  process.getuid?.() !== 0
    ? "needs root for a pid namespace"
    : Bun.which("unshare") === null || Bun.which("nsenter") === null
      ? "needs unshare and nsenter (util-linux)"
      : undefined;

const scope = new E2EScope();
let upstream: Upstream;

beforeAll(() => {
  requireBinary();
  upstream = startEchoUpstream();
  scope.defer(upstream.stop);
});

afterAll(() => scope.dispose());

async function routeNames(home: string): Promise<string[]> {
  const listed = await runGotunnel(["list", "--json"], { cwd: home, home, env: PORTS });
  expect(listed.exitCode, listed.stderr).toBe(0);
  return (JSON.parse(listed.stdout) as { routes: { name: string }[] }).routes.map((route) => route.name).sort();
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
      const first = await inside(["start", "-d", "api", "-p", String(upstream.port)]);
      expect(first.exitCode, first.stderr).toBe(0);
      // The command that started the daemon has exited, so the daemon is now a child of that PID 1.
      const killed = childOf(init ?? 0) ?? 0;
      process.kill(killed, "SIGKILL");
      expect(await until(() => (processState(killed) === "Z" ? true : undefined))).toBe(true);
      // The trap: signal 0 still finds the zombie.
      expect(() => process.kill(killed, 0)).not.toThrow();

      const second = await inside(["start", "-d", "web", "-p", String(upstream.port)]);
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
