#!/usr/bin/env bun
/**
 * Entry point for `bun build --compile`. Commands are imported lazily so `gotunnel --version` loads almost nothing;
 * every error is mapped to a message, a hint and a documented exit code here and nowhere else.
 */
import { dirname } from "node:path";
import { type CommandDef, defineCommand, runCommand, showUsage } from "citty";
import { buildInfo } from "./core/build-info.ts";
import { diskFullError, ExitCode, isDiskFull } from "./core/errors.ts";

type Loader = () => Promise<CommandDef>;
const lazy =
  (load: () => Promise<{ default: unknown }>): Loader =>
  () =>
    load().then((m) => m.default as CommandDef);

const main = defineCommand({
  meta: {
    name: "gotunnel",
    version: buildInfo().version,
    description: "Trusted HTTPS names for local dev servers: https://myapp.local → localhost:3000",
  },
  subCommands: {
    up: lazy(() => import("./cli/up.ts")),
    start: lazy(() => import("./cli/start.ts")),
    down: lazy(() => import("./cli/down.ts")),
    stop: lazy(() => import("./cli/stop.ts")),
    "stop-all": lazy(() => import("./cli/stop-all.ts")),
    list: lazy(() => import("./cli/list.ts")),
    status: lazy(() => import("./cli/status.ts")),
    logs: lazy(() => import("./cli/logs.ts")),
    health: lazy(() => import("./cli/health.ts")),
    daemon: lazy(() => import("./cli/daemon.ts")),
    ca: lazy(() => import("./cli/ca.ts")),
    version: lazy(() => import("./cli/version.ts")),
    trust: lazy(() => import("./cli/trust.ts")),
    untrust: lazy(() => import("./cli/untrust.ts")),
    env: lazy(() => import("./cli/env.ts")),
    doctor: lazy(() => import("./cli/doctor.ts")),
    share: lazy(() => import("./cli/share.ts")),
    discover: lazy(() => import("./cli/discover.ts")),
    run: lazy(() => import("./cli/run.ts")),
    init: lazy(() => import("./cli/init.ts")),
    config: lazy(() => import("./cli/config.ts")),
  },
});

/**
 * A full disk is never a bug, whichever write met it: the writes gotunnel knows (state, CA, log, hosts) say which
 * file; any other still gets the full-disk message and exit 8 instead of a stack trace.
 */
function asDiskFull(error: unknown): unknown {
  if (!isDiskFull(error)) return error;
  const path = (error as NodeJS.ErrnoException).path;
  return path === undefined ? diskFullError(error) : diskFullError(error, path, dirname(path));
}

function wants(rawArgs: string[], flag: string): boolean {
  return rawArgs.includes(flag);
}

async function run(rawArgs: string[]): Promise<number> {
  if (rawArgs.length === 0 || wants(rawArgs, "--help") || wants(rawArgs, "-h")) {
    const { innermostCommand } = await import("./cli/flags.ts");
    const [command, , parent] = await innermostCommand(
      main,
      rawArgs.filter((arg) => !arg.startsWith("-")),
    );
    await showUsage(command, parent);
    return rawArgs.length === 0 ? ExitCode.usage : ExitCode.ok;
  }
  // `up`'s guard process (devserver/guard.ts): hidden from help, started only by `up` itself.
  if (rawArgs[0] === "__devserver-guard") return (await import("./devserver/guard.ts")).runGuard();
  if (rawArgs.length === 1 && (rawArgs[0] === "--version" || rawArgs[0] === "-v")) {
    process.stdout.write(`${buildInfo().version}\n`);
    return ExitCode.ok;
  }
  try {
    await (await import("./cli/flags.ts")).rejectUnknownFlags(main, rawArgs);
    // Under sudo, every file and directory a command creates is the invoking user's from the start (safe-fs.ts).
    await runCommand(main, { rawArgs });
    // `run` hands back its child command's exit code.
    return typeof process.exitCode === "number" ? process.exitCode : ExitCode.ok;
  } catch (error) {
    const { printError } = await import("./cli/output.ts");
    const { isUsageError, usageError } = await import("./cli/usage.ts");
    const mapped = isUsageError(error)
      ? usageError(
          error,
          rawArgs.find((arg) => !arg.startsWith("-")),
        )
      : asDiskFull(error);
    return printError(mapped, {
      json: wants(rawArgs, "--json"),
      debug: wants(rawArgs, "--debug") || !!process.env.DEBUG,
    });
  }
}

const code = await run(process.argv.slice(2));
// Commands that serve return only after shutdown; exit explicitly so no stray handle keeps the process alive.
process.exit(code);
