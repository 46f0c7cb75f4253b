/**
 * Child processes of the bench: every long-lived one is registered so that an error or Ctrl+C still stops it.
 */
import { closeSync, openSync, readFileSync } from "node:fs";
import type { Subprocess } from "bun";

export interface Managed {
  name: string;
  proc: Subprocess;
  pid: number;
  logPath: string;
}

const running = new Set<Managed>();

export type EnvPatch = Record<string, string | undefined>;

/** The bench's environment with a patch applied; an undefined value removes the variable. */
export function childEnv(patch: EnvPatch = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, ...patch })) {
    if (value !== undefined) env[key] = value;
  }
  return env;
}

export interface SpawnOptions {
  env?: EnvPatch;
  cwd?: string;
  logPath: string;
  /**
   * Whose memory is measured: drop its executable from the page cache first (uncache), so every target's file is
   * read in the same way. Not for start-up samples, which a user runs with the file cached.
   */
  uncache?: boolean;
}

/** The program `cmd` runs: past a leading `taskset -c CPU`, looked up on PATH when it is not a path. */
export function programOf(cmd: readonly string[]): string | undefined {
  const program = cmd[0] === "taskset" ? cmd[3] : cmd[0];
  if (program === undefined) return undefined;
  return program.includes("/") ? program : (Bun.which(program) ?? undefined);
}

/**
 * Drops a file's pages from the page cache (`dd iflag=nocache count=0`: posix_fadvise DONTNEED over the whole file;
 * pages some process has mapped stay). A file written moments ago, as gotunnel's binary right after `bun run build`
 * or the compiled floors, is cached in the large folios its writes made, and a process that maps it counts 4 to 5
 * MiB more of it in its RSS than when the same file was read back (issue 18, CONTRIBUTING.md). nginx's or Caddy's
 * binary, installed long before, was not: without this, a fresh build measured bigger than it is.
 */
export function uncache(path: string): void {
  // Dirty pages (a file written in the last half minute, as the compiled floors are) are not dropped: write them first.
  Bun.spawnSync(["sync", path]);
  const result = Bun.spawnSync(["dd", `if=${path}`, "iflag=nocache", "count=0", "status=none"]);
  if (result.exitCode !== 0) throw new Error(`could not drop ${path} from the page cache: ${result.stderr.toString()}`);
}

/**
 * Starts a long-lived process with stdout and stderr written straight to one log file by the kernel. The bench
 * never reads a child's output through a pipe while measuring: relaying e.g. gotunnel's per-request log would
 * cost this process CPU on the same two cores. The file starts empty: with --rounds a target starts again, and
 * waitForLog must not find the previous start's ready line.
 */
export function spawnManaged(name: string, cmd: string[], options: SpawnOptions): Managed {
  const program = options.uncache ? programOf(cmd) : undefined;
  if (program !== undefined) uncache(program);
  const fd = openSync(options.logPath, "w");
  try {
    const proc = Bun.spawn(cmd, { cwd: options.cwd, env: childEnv(options.env), stdio: ["ignore", fd, fd] });
    const managed: Managed = { name, proc, pid: proc.pid, logPath: options.logPath };
    running.add(managed);
    return managed;
  } finally {
    closeSync(fd); // the child holds its own copy
  }
}

export function hasExited(managed: Managed): boolean {
  return managed.proc.exitCode !== null || managed.proc.signalCode !== null;
}

/** SIGTERM, then SIGKILL after graceMs. Safe to call twice. */
export async function stopManaged(managed: Managed, graceMs = 5000): Promise<void> {
  running.delete(managed);
  if (hasExited(managed)) return;
  managed.proc.kill("SIGTERM");
  const timer = setTimeout(() => managed.proc.kill("SIGKILL"), graceMs);
  await managed.proc.exited;
  clearTimeout(timer);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((managed) => stopManaged(managed, 2000)));
}

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

async function canConnect(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    socket.end();
    return true;
  } catch {
    return false; // refused: not listening yet, the caller retries
  }
}

/** Resolves once every port accepts TCP connections; throws if the process dies or time runs out. */
export async function waitForPorts(managed: Managed, ports: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const port of ports) {
    while (!(await canConnect(port))) {
      if (hasExited(managed)) throw new Error(`${managed.name} exited early; see ${managed.logPath}`);
      if (Date.now() > deadline) throw new Error(`${managed.name} did not listen on ${port}; see ${managed.logPath}`);
      await sleep(50);
    }
  }
}

/** Resolves once the process's log contains needle; throws if it exits first or time runs out. */
export async function waitForLog(managed: Managed, needle: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!readFileSync(managed.logPath, "utf8").includes(needle)) {
    if (hasExited(managed)) throw new Error(`${managed.name} exited early; see ${managed.logPath}`);
    if (Date.now() > deadline) throw new Error(`no "${needle}" in ${managed.name}'s output within ${timeoutMs} ms`);
    await sleep(100);
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a short command to completion, killed after timeoutMs. */
export async function run(cmd: string[], timeoutMs: number, env?: EnvPatch): Promise<RunResult> {
  const proc = Bun.spawn(cmd, { env: childEnv(env), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Like run(), but throws with the command's stderr when it fails. */
export async function runOk(cmd: string[], timeoutMs: number, env?: EnvPatch): Promise<string> {
  const result = await run(cmd, timeoutMs, env);
  if (result.code !== 0) {
    throw new Error(`${cmd.join(" ")} failed (${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result.stdout;
}

const PORT_LOW = 20000;
const PORT_SPAN = 10000;
const handedOut = new Set<number>();

/**
 * A free loopback port below Linux's default ephemeral range (32768+), so wrk's and the proxies' outgoing
 * connections never compete with our listeners for the same numbers.
 */
export function freePort(): number {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = PORT_LOW + Math.floor(Math.random() * PORT_SPAN);
    if (handedOut.has(port)) continue; // probed free, but promised to an earlier caller that has not bound it yet
    try {
      const probe = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
      probe.stop(true);
      handedOut.add(port);
      return port;
    } catch {
      // taken: try another number
    }
  }
  throw new Error("no free port found in 20000-29999");
}
