/**
 * Runs the dev servers of an `up` session: each command in its own process group with its output cut into lines,
 * each group registered with the guard (platform/process-guard.ts) before anything else can happen to it, a wait until every port
 * accepts connections, and a stop that leaves no process behind. Printing is the caller's (cli/output.ts), through
 * the events.
 */
import type { Subprocess } from "bun";
import { GotunnelError } from "../core/errors.ts";
import { probeTarget } from "../daemon/probe.ts";
import { selfCommand } from "../daemon/spawn.ts";
import { signalGroup, stopGroups } from "../platform/process-group.ts";
import { ProcessGuard } from "../platform/process-guard.ts";
import { LineSplitter, pumpLines } from "./lines.ts";
import type { LaunchPlan } from "./plan.ts";

const READY_POLL_MS = 250;

export interface DevServerSpec {
  /** The route's name: the prefix of its output lines. */
  name: string;
  plan: LaunchPlan;
  cwd: string;
  /** The whole environment of the command (gotunnel's, the route's `env`, then the plan's variables). */
  env: Record<string, string | undefined>;
  waitTimeoutMs: number;
}

export interface DevExit {
  name: string;
  code: number | null;
  signal: string | null;
  lastLines: string[];
}

export interface DevServerEvents {
  onLine(name: string, stream: "stdout" | "stderr", line: string): void;
  /** A command exited after its server answered (before that, ready() rejects instead). */
  onExit(exit: DevExit): void;
}

interface Running {
  spec: DevServerSpec;
  child: Subprocess<"ignore", "pipe", "pipe">;
  /** Both output streams read to their end. */
  drained: Promise<void>;
  tail: () => string[];
  exit?: DevExit;
}

export class DevServers {
  private readonly running: Running[] = [];
  private stopping = false;
  private readonly guard: ProcessGuard;

  private constructor(private readonly events: DevServerEvents) {
    this.guard = ProcessGuard.start(selfCommand());
  }

  /** Starts every command at once. Throws E_USAGE (and stops what it started) when one cannot be spawned. */
  static start(specs: readonly DevServerSpec[], events: DevServerEvents): DevServers {
    const servers = new DevServers(events);
    for (const spec of specs) {
      try {
        servers.spawn(spec);
      } catch (error) {
        void servers.stop();
        throw spawnError(spec, error);
      }
    }
    return servers;
  }

  private spawn(spec: DevServerSpec): void {
    const { spawn } = spec.plan;
    const argv = "argv" in spawn ? spawn.argv : ["/bin/sh", "-c", spawn.shell];
    const child = Bun.spawn(argv, {
      cwd: spec.cwd,
      env: spec.env,
      // Not the terminal: a background group that reads it would be stopped by SIGTTIN (POSIX job control).
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      detached: true,
    });
    this.guard.watch(child.pid);
    const out = new LineSplitter((line) => this.events.onLine(spec.name, "stdout", line));
    const err = new LineSplitter((line) => this.events.onLine(spec.name, "stderr", line));
    const drained = Promise.all([pumpLines(child.stdout, out), pumpLines(child.stderr, err)]).then(() => undefined);
    const running: Running = {
      spec,
      child,
      drained,
      // stderr first: where a crash says why; then what stdout said last.
      tail: () => [...out.lastLines(), ...err.lastLines()].slice(-20),
    };
    this.running.push(running);
    void child.exited.then(() => this.exited(running));
  }

  private async exited(running: Running): Promise<void> {
    const { child, spec } = running;
    await running.drained;
    const exit: DevExit = {
      name: spec.name,
      code: child.exitCode,
      signal: child.signalCode === null ? null : String(child.signalCode),
      lastLines: running.tail(),
    };
    running.exit = exit;
    if (this.stopping) return;
    // The leader is gone; anything it left in its group goes too, so an exited command leaves nothing behind.
    await stopGroups([child.pid]);
    this.guard.forget(child.pid);
    if (this.ready) this.events.onExit(exit);
  }

  private ready = false;

  /**
   * Resolves once every server accepts connections on its port; `onWaiting` gets the names still waited for, on
   * each poll. Rejects with E_UPSTREAM (exit 6) when a command exits first or its wait times out, with its last lines.
   */
  async waitUntilReady(onWaiting: (names: string[], elapsedMs: number) => void): Promise<void> {
    const started = Date.now();
    let waiting = [...this.running];
    while (waiting.length > 0 && !this.stopping) {
      const answers = await Promise.all(waiting.map((running) => this.answers(running)));
      // Stopped meanwhile (a signal during the wait): the exits that follow are ours, not failures.
      if (this.stopping) return;
      waiting = waiting.filter((_, index) => !answers[index]);
      const elapsedMs = Date.now() - started;
      for (const running of waiting) {
        if (running.exit) throw exitedEarly(running.exit, running.spec);
        if (elapsedMs > running.spec.waitTimeoutMs) throw timedOut(running.spec, running.tail());
      }
      if (waiting.length === 0) break;
      onWaiting(
        waiting.map((running) => running.spec.name),
        elapsedMs,
      );
      await Promise.race([Bun.sleep(READY_POLL_MS), ...waiting.map((running) => running.child.exited)]);
      // An exit is only reported once its output is read: the last lines are what the user needs.
      await Promise.all(waiting.filter((running) => running.child.exitCode !== null).map((r) => r.drained));
      await Bun.sleep(0);
    }
    this.ready = true;
  }

  private async answers(running: Running): Promise<boolean> {
    if (running.exit) return false;
    return probeTarget("localhost", running.spec.plan.port);
  }

  /** Resolves when every command has exited (after ready), so a session of dev servers only can end. */
  allExited(): Promise<void> {
    return Promise.all(this.running.map((running) => running.child.exited)).then(() => undefined);
  }

  /** Stops every group (SIGTERM, then SIGKILL after the grace time) and lets the guard go. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await stopGroups(this.running.map((running) => running.child.pid));
    await Promise.all(this.running.map((running) => running.child.exited));
    this.guard.quit();
  }

  /** Process group ids of the commands still running (tests, `up --json`). */
  groups(): number[] {
    return this.running.filter((running) => signalGroup(running.child.pid, 0)).map((running) => running.child.pid);
  }
}

function describeCommand(spec: DevServerSpec): string {
  const { spawn } = spec.plan;
  return "argv" in spawn ? spawn.argv.join(" ") : spawn.shell;
}

function lastLinesText(lines: string[]): string {
  return lines.length === 0 ? "(it printed nothing)" : lines.map((line) => `    ${line}`).join("\n");
}

export function exitDescription(exit: Pick<DevExit, "code" | "signal">): string {
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

function exitedEarly(exit: DevExit, spec: DevServerSpec): GotunnelError {
  return new GotunnelError(
    "E_UPSTREAM",
    `${spec.name}: \`${describeCommand(spec)}\` ${exitDescription(exit)} before it answered on port ${spec.plan.port}. Its last lines:\n${lastLinesText(exit.lastLines)}`,
    {
      hint: `fix the error above (run the command in ${spec.cwd} to see it alone), then run \`gotunnel up\` again`,
      details: { route: spec.name, code: exit.code, signal: exit.signal, lastLines: exit.lastLines },
    },
  );
}

function timedOut(spec: DevServerSpec, lines: string[]): GotunnelError {
  const seconds = Math.round(spec.waitTimeoutMs / 100) / 10;
  return new GotunnelError(
    "E_UPSTREAM",
    `${spec.name}: \`${describeCommand(spec)}\` did not answer on port ${spec.plan.port} within ${seconds} s. Its last lines:\n${lastLinesText(lines)}`,
    {
      hint: `check that it listens on port ${spec.plan.port} (gotunnel set PORT=${spec.plan.port}); a slow first start needs a longer routes["${spec.name}"].waitTimeout or --wait-timeout`,
      details: { route: spec.name, port: spec.plan.port, lastLines: lines },
    },
  );
}

function spawnError(spec: DevServerSpec, error: unknown): GotunnelError {
  return new GotunnelError(
    "E_USAGE",
    `${spec.name}: cannot start \`${describeCommand(spec)}\` in ${spec.cwd}: ${(error as Error).message}`,
    {
      hint: `check routes["${spec.name}"].command and cwd (an argv array runs without a shell; a string with shell syntax runs with sh -c)`,
      cause: error,
    },
  );
}
