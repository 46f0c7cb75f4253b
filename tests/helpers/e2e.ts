/**
 * Runs the COMPILED binary (dist/gotunnel) the way a user does: a temp GOTUNNEL_HOME, a temp project dir outside
 * the repository (so neither node_modules nor tsconfig paths can help `import "gotunnel"`), ephemeral ports, and
 * `--json` for the ready line. Everything a test starts is registered with an E2EScope and torn down in afterAll,
 * also when the test failed. Clients (curl, openssl, wrk) are spawned asynchronously: the upstreams answer on this
 * process's event loop, so a blocking spawnSync would deadlock.
 */
import { afterAll, beforeAll } from "bun:test";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { startEchoUpstream, type Upstream } from "./upstreams.ts";

export const REPO_ROOT = resolve(import.meta.dir, "..", "..");
/** GOTUNNEL_E2E_BINARY: test another build (e.g. one made while dist/ is being rebuilt by someone else). */
export const BINARY = process.env.GOTUNNEL_E2E_BINARY || join(REPO_ROOT, "dist", "gotunnel");
export const FIXTURES = join(REPO_ROOT, "tests", "fixtures", "e2e");
/** How long the binary gets to print its ready line (CA creation + leaf certificates + bind; usually < 1 s). */
const READY_TIMEOUT_MS = 20_000;
/** How long a signalled gotunnel gets to exit (the daemon's shutdown grace is 5 s). */
const EXIT_TIMEOUT_MS = 10_000;
const DEFAULT_RUN_TIMEOUT_MS = 30_000;

/** Fails loudly (never skips) when the binary has not been built. */
export function requireBinary(): void {
  if (!existsSync(BINARY)) {
    throw new Error(`${BINARY} does not exist: run \`bun run build\` first (\`bun run test:e2e\` builds it for you).`);
  }
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stdoutBytes: Uint8Array<ArrayBuffer>;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** Spawns `argv` in its own process group, so a timeout kills the whole pipeline (e.g. `sh -c "head | curl"`). */
export async function run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const child = Bun.spawn(argv, {
    cwd: options.cwd,
    env: options.env ?? { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    detached: true,
  });
  const timeoutMs = options.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child, "SIGKILL");
  }, timeoutMs);
  try {
    const [stdoutBuffer, stderr, exitCode] = await Promise.all([
      new Response(child.stdout).arrayBuffer(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    const stdoutBytes = new Uint8Array(stdoutBuffer);
    const stdout = new TextDecoder().decode(stdoutBytes);
    if (timedOut) {
      throw new Error(`\`${argv.join(" ")}\` did not finish within ${timeoutMs} ms:\n${stdout}\n${stderr}`);
    }
    return { exitCode, stdout, stdoutBytes, stderr };
  } finally {
    clearTimeout(timer);
  }
}

function killGroup(child: Subprocess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid, signal);
  } catch (error) {
    // ESRCH: the group is already gone, which is what we wanted.
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

export interface HttpResult extends RunResult {
  status: number;
  /** Lower-case names, in order, duplicates kept (two Set-Cookie lines stay two entries). */
  headers: [string, string][];
  body: Uint8Array<ArrayBuffer>;
}

export function headerValues(result: HttpResult, name: string): string[] {
  return result.headers.filter(([key]) => key === name).map(([, value]) => value);
}

/**
 * curl to a proxy URL: `--resolve name:port:127.0.0.1` (never /etc/hosts), trusting `ca` (pass none for plain
 * HTTP). Headers of the last response go through a temp file so the body stays byte-exact on stdout.
 */
export async function curl(url: string, options: { ca?: string; args?: string[]; timeoutMs?: number } = {}) {
  const { hostname, port, protocol } = new URL(url);
  const resolvePort = port || (protocol === "https:" ? "443" : "80");
  const headerFile = join(tmpdir(), `gotunnel-e2e-headers-${crypto.randomUUID()}`);
  const argv = ["curl", "-sS", "--max-time", "120", "--resolve", `${hostname}:${resolvePort}:127.0.0.1`];
  argv.push("-D", headerFile, ...(options.ca ? ["--cacert", options.ca] : []), ...(options.args ?? []), url);
  try {
    const result = await run(argv, { timeoutMs: options.timeoutMs ?? 150_000 });
    const raw = existsSync(headerFile) ? readFileSync(headerFile, "latin1") : "";
    const block =
      raw
        .split("\r\n\r\n")
        .filter((part) => part.startsWith("HTTP/"))
        .pop() ?? "";
    const [statusLine = "", ...lines] = block.split("\r\n");
    const headers = lines.flatMap((line): [string, string][] => {
      const colon = line.indexOf(":");
      return colon > 0 ? [[line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]] : [];
    });
    const status = Number(statusLine.split(" ")[1] ?? 0);
    return { ...result, status, headers, body: result.stdoutBytes } satisfies HttpResult;
  } finally {
    rmSync(headerFile, { force: true });
  }
}

/** A port nothing listens on right now (bind 0, read, release). */
export async function freePort(hostname = "127.0.0.1"): Promise<number> {
  const listener = Bun.listen({ hostname, port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** True when a plain, exclusive bind of `port` succeeds now (so nobody holds it). */
export function canBind(port: number, hostname = "127.0.0.1"): boolean {
  try {
    Bun.listen({ hostname, port, socket: { data() {} } }).stop(true);
    return true;
  } catch {
    return false;
  }
}

/** Collects a child's output line by line while it runs, so a test can wait for a given line. */
export class LineCollector {
  readonly lines: string[] = [];
  readonly done: Promise<void>;
  private partial = "";
  private closed = false;
  private readonly waiters = new Set<() => void>();

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = this.pump(stream);
  }

  text(): string {
    return [...this.lines, this.partial].join("\n");
  }

  private async pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const parts = (this.partial + decoder.decode(chunk, { stream: true })).split("\n");
      this.partial = parts.pop() ?? "";
      this.lines.push(...parts);
      this.notify();
    }
    if (this.partial) this.lines.push(this.partial);
    this.partial = "";
    this.closed = true;
    this.notify();
  }

  private notify(): void {
    for (const waiter of this.waiters) waiter();
  }

  /** Resolves with the first line matching `predicate`; rejects on timeout or when the stream ends without one. */
  waitFor(predicate: (line: string) => boolean, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const line = this.lines.find(predicate);
        if (line !== undefined) finish(() => resolve(line));
        else if (this.closed) finish(() => reject(new Error("the stream ended without a matching line")));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`no matching line within ${timeoutMs} ms`))),
        timeoutMs,
      );
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }
}

/** The first stdout line of `up`/`start --json` (src/cli/serve.ts renderReady). */
export interface ReadyEvent {
  event: "ready";
  routes: { name: string; url: string; target: string }[];
  ports: { https: number; http: number };
  ca: { path: string; created: boolean };
}

/** One `gotunnel up` session (or a `start`, which returns after its ready line); the daemon serves the routes. */
export class Gotunnel {
  readonly stdout: LineCollector;
  readonly stderr: LineCollector;
  ready!: ReadyEvent;

  /** `home`: the GOTUNNEL_HOME it runs with, whose daemon serves its routes. */
  constructor(
    readonly proc: Subprocess<"ignore", "pipe", "pipe">,
    readonly home?: string,
  ) {
    this.stdout = new LineCollector(proc.stdout);
    this.stderr = new LineCollector(proc.stderr);
  }

  get pid(): number {
    return this.proc.pid;
  }

  get httpsPort(): number {
    return this.ready.ports.https;
  }

  get httpPort(): number {
    return this.ready.ports.http;
  }

  get caPath(): string {
    return this.ready.ca.path;
  }

  /** Request log records (one JSON line per request after the ready line). */
  requestLog(): Record<string, unknown>[] {
    return this.stdout.lines.slice(1).flatMap((line) => (line.startsWith("{") ? [JSON.parse(line)] : []));
  }

  /**
   * Peak resident set size so far (VmHWM), in KiB, of the process that proxies: the daemon of this command's home
   * (`up` and `start` only talk to it), or this process when none runs (`gotunnel daemon` in the foreground).
   */
  peakRssKiB(): number {
    const pid = (this.home === undefined ? undefined : daemonPid(this.home)) ?? this.pid;
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
    if (!match?.[1]) throw new Error(`no VmHWM in /proc/${pid}/status`);
    return Number(match[1]);
  }

  /** Sends `signal` and waits (bounded) for the exit; returns the exit code. */
  stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number> {
    if (this.proc.exitCode === null) this.proc.kill(signal);
    return this.exited();
  }

  /** Waits (bounded) for the process to exit, e.g. after a signal sent to its group; returns the exit code. */
  async exited(): Promise<number> {
    const code = await Promise.race([this.proc.exited, Bun.sleep(EXIT_TIMEOUT_MS).then(() => null)]);
    if (code === null) {
      killGroup(this.proc, "SIGKILL");
      throw new Error(`gotunnel (pid ${this.pid}) did not exit within ${EXIT_TIMEOUT_MS} ms`);
    }
    await Promise.all([this.stdout.done, this.stderr.done]);
    return code;
  }

  /** Cleanup path: no questions asked. */
  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) killGroup(this.proc, "SIGKILL");
  }
}

export interface SpawnOptions {
  cwd: string;
  home: string;
  env?: Record<string, string>;
}

/** Every GOTUNNEL_HOME a binary ran with: each may have started a daemon that dispose() must stop. */
const homesUsed = new Set<string>();

/**
 * The temp hosts file of a home. Never the real /etc/hosts: the daemon writes the file GOTUNNEL_HOSTS_FILE names.
 * It sits next to the home, not in it, so tests that snapshot a home do not see it change.
 */
export function hostsFileOf(home: string): string {
  return `${home}.hosts`;
}

/** The environment the binary sees: nothing inherited except PATH, so no GOTUNNEL_* of the developer leaks in. */
export function binaryEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  homesUsed.add(home);
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    GOTUNNEL_HOME: home,
    GOTUNNEL_HOSTS_FILE: hostsFileOf(home),
    NO_COLOR: "1",
    // Any free port: the fixed default (7070) would make parallel test daemons race for it.
    GOTUNNEL_ADMIN_PORT: "0",
    // A `.local` route would otherwise widen the daemon to 0.0.0.0 and send mDNS on this machine's network: tests
    // that want the LAN override it (empty: the default policy) inside a network namespace they created (netns.ts).
    GOTUNNEL_LAN: "0",
    ...extra,
  };
}

/** The daemon's lock file under a GOTUNNEL_HOME: it holds an exclusive flock on it for as long as it runs. */
export function lockFileOf(home: string): string {
  return join(home, "state", "daemon.lock");
}

/**
 * The pid of the daemon serving `home`: the process the kernel says holds the flock on its lock file (/proc/locks,
 * in this process's pid namespace, so also right for a daemon started in another one); undefined when none runs.
 */
export function daemonPid(home: string): number | undefined {
  let inode: number;
  try {
    inode = statSync(lockFileOf(home)).ino;
  } catch {
    return undefined; // No lock file: no daemon.
  }
  for (const line of readFileSync("/proc/locks", "utf8").split("\n")) {
    const match = /^\d+:\s+FLOCK\s+\S+\s+WRITE\s+(\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s/.exec(line);
    if (match && Number(match[2]) === inode && Number(match[1]) > 0) return Number(match[1]);
  }
  return undefined;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits (bounded) until `pid` is gone; returns false if it is still there. */
export async function waitForExit(pid: number, timeoutMs = EXIT_TIMEOUT_MS): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(pid)) {
    if (Date.now() > deadline) return false;
    await Bun.sleep(50);
  }
  return true;
}

/** Stops the daemon of `home` if one runs: SIGTERM, then SIGKILL if it does not exit in time. */
export async function stopDaemonOf(home: string): Promise<void> {
  const pid = daemonPid(home);
  if (pid === undefined) return;
  process.kill(pid, "SIGTERM");
  if (!(await waitForExit(pid))) process.kill(pid, "SIGKILL");
}

/** Runs a short command of the binary (`ca`, `version`, a failing `up`) to completion. */
export function runGotunnel(args: string[], options: SpawnOptions & { timeoutMs?: number }): Promise<RunResult> {
  requireBinary();
  return run([BINARY, ...args], {
    cwd: options.cwd,
    env: binaryEnv(options.home, options.env),
    timeoutMs: options.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS,
  });
}

/** Owns everything a test file starts; `dispose()` in afterAll tears it all down, failures included. */
export class E2EScope {
  private readonly root = mkdtempSync(join(tmpdir(), "gotunnel-e2e-"));
  private readonly processes: Gotunnel[] = [];
  private readonly cleanups: (() => unknown)[] = [];

  constructor() {
    // World-searchable so a test can run the binary as `nobody` inside it.
    chmodSync(this.root, 0o755);
  }

  /** A fresh directory under this scope's temp root. */
  dir(prefix = "dir"): string {
    return mkdtempSync(join(this.root, `${prefix}-`));
  }

  /** A project dir holding `files` (path → text), outside the repository. */
  project(files: Record<string, string>): string {
    const dir = this.dir("project");
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    return dir;
  }

  /** A project dir copied from tests/fixtures/e2e/<name>. */
  fixtureProject(name: string): string {
    const dir = this.dir(`fixture-${name.replaceAll("/", "-")}`);
    cpSync(join(FIXTURES, name), dir, { recursive: true });
    return dir;
  }

  /** Registers a cleanup (an upstream's stop, a holder process's kill). */
  defer(cleanup: () => unknown): void {
    this.cleanups.push(cleanup);
  }

  /** Starts the binary with `--json` and waits for its ready line; throws with its stderr if it exits first. */
  async start(args: string[], options: SpawnOptions): Promise<Gotunnel> {
    requireBinary();
    // `--json` is gotunnel's own flag: before a `--` that hands the rest to a command (`up NAME -- CMD…`).
    const dashes = args.indexOf("--");
    const argv = dashes === -1 ? [...args, "--json"] : [...args.slice(0, dashes), "--json", ...args.slice(dashes)];
    const proc = Bun.spawn([BINARY, ...argv], {
      cwd: options.cwd,
      env: binaryEnv(options.home, options.env),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      detached: true,
    });
    const gotunnel = new Gotunnel(proc, options.home);
    this.processes.push(gotunnel);
    const first = await gotunnel.stdout
      .waitFor(() => true, READY_TIMEOUT_MS)
      .catch(async (error: unknown) => {
        gotunnel.kill();
        await gotunnel.stderr.done;
        throw new Error(
          `gotunnel ${args.join(" ")} printed no ready line (exit ${proc.exitCode}):\n${gotunnel.stderr.text()}`,
          { cause: error },
        );
      });
    const ready = JSON.parse(first) as ReadyEvent;
    if (ready.event !== "ready") throw new Error(`first stdout line is not the ready event: ${first}`);
    gotunnel.ready = ready;
    return gotunnel;
  }

  /** `gotunnel up` on ephemeral ports in `cwd`. */
  up(cwd: string, home: string, extraArgs: string[] = []): Promise<Gotunnel> {
    return this.start(["up", "--proxy-https-port", "0", "--proxy-http-port", "0", ...extraArgs], { cwd, home });
  }

  /** Kills every process, runs every cleanup and removes the temp root even when one step fails; then reports. */
  async dispose(): Promise<void> {
    const errors: unknown[] = [];
    for (const gotunnel of this.processes) gotunnel.kill();
    await Promise.all(this.processes.map((gotunnel) => gotunnel.proc.exited));
    for (const home of homesUsed) {
      if (!home.startsWith(this.root)) continue;
      try {
        await stopDaemonOf(home);
      } catch (error) {
        errors.push(error);
      }
    }
    for (const cleanup of this.cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        errors.push(error);
      }
    }
    rmSync(this.root, { recursive: true, force: true });
    if (errors.length > 0) throw new AggregateError(errors, "E2EScope cleanup failed");
  }
}

/** Polls `probe` every 50 ms until it returns a value; undefined after `timeoutMs`, so the assertion names the miss. */
export async function until<T>(probe: () => T | undefined, timeoutMs = 10_000): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (let value = probe(); ; value = probe()) {
    if (value !== undefined || Date.now() > deadline) return value;
    await Bun.sleep(50);
  }
}

/**
 * `gotunnel start` for an echo upstream under a fresh home with `env` (listeners on any free port); the upstream and
 * the daemon stop with `scope`. Returns the home, the upstream, the route URL and the CA path.
 */
export async function startEchoRoute(scope: E2EScope, name: string, env: Record<string, string>) {
  const home = scope.dir(name);
  const upstream = startEchoUpstream();
  scope.defer(() => upstream.stop());
  scope.defer(() => stopDaemonOf(home));
  const ports = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };
  const options = { cwd: home, home, env: { ...ports, ...env } };
  const started = await runGotunnel(["start", "-d", name, "-p", String(upstream.port), "--json"], options);
  if (started.exitCode !== 0) throw new Error(`gotunnel start failed (${started.exitCode}): ${started.stderr}`);
  const ready = JSON.parse(started.stdout.split("\n")[0] ?? "") as { routes: { url: string }[]; ca: { path: string } };
  return { home, upstream, url: ready.routes[0]?.url ?? "", ca: ready.ca.path };
}

/** One line of `gotunnel logs --json` (src/daemon/request-log.ts logLine). */
export interface RequestLogLine {
  method: string;
  path: string;
  status: number;
  route?: string;
  error?: string;
}

/** The daemon's log line for the request to `path`, once it is logged (bounded wait; undefined if it never is). */
export async function loggedRequest(
  home: string,
  path: string,
  timeoutMs = 10_000,
): Promise<RequestLogLine | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const logs = await runGotunnel(["logs", "--json"], { cwd: home, home });
    if (logs.exitCode !== 0) throw new Error(`gotunnel logs failed (${logs.exitCode}): ${logs.stderr}`);
    const line = logs.stdout
      .split("\n")
      .filter((text) => text !== "")
      .map((text) => JSON.parse(text) as RequestLogLine)
      .find((entry) => entry.path === path);
    if (line || Date.now() > deadline) return line;
    await Bun.sleep(50);
  }
}

/** What a test file with one echo upstream shares: its scope, and the upstream once its beforeAll has run. */
export interface EchoFile {
  scope: E2EScope;
  upstream: Upstream & ReturnType<typeof startEchoUpstream>;
}

/** A scope and an echo upstream for the whole test file: started before its tests, stopped and disposed after. */
export function withEchoUpstream(): EchoFile {
  const file = { scope: new E2EScope() } as EchoFile;
  beforeAll(() => {
    requireBinary();
    file.upstream = startEchoUpstream();
    file.scope.defer(file.upstream.stop);
  });
  afterAll(() => file.scope.dispose());
  return file;
}
