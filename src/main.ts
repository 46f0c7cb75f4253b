#!/usr/bin/env bun
/**
 * Entry point for `bun build --compile`. Commands are imported lazily so `gotunnel --version` loads almost nothing;
 * every error is mapped to a message, a hint and a documented exit code here and nowhere else.
 */
import { dirname } from "node:path";
import { runCommand } from "citty";
import { main } from "./cli/commands.ts";
import { buildInfo } from "./core/build-info.ts";
import { diskFullError, ExitCode, isDiskFull } from "./core/errors.ts";

/**
 * A full disk is never a bug, whichever write met it: the writes gotunnel knows (state, CA, log, hosts) say which
 * file; any other still gets the full-disk message and exit 8 instead of a stack trace.
 */
function asDiskFull(error: unknown): unknown {
  if (!isDiskFull(error)) return error;
  const path = (error as NodeJS.ErrnoException).path;
  return path === undefined ? diskFullError(error) : diskFullError(error, path, dirname(path));
}

async function run(rawArgs: string[]): Promise<number> {
  // The guard process of `up` and `share` (platform/process-guard.ts): hidden from help, started only by them.
  if (rawArgs[0] === "__process-guard") return (await import("./platform/process-guard.ts")).runGuard();
  // The daemon's certificate issuer (tls/issuer/child.ts): the one process that loads @peculiar/x509 for it.
  if (rawArgs[0] === "__issue-certificates") return (await import("./tls/issuer/child.ts")).runIssuer(rawArgs[1]);
  // What shells ask while completing (cli/completion/): answers fast, and never starts a daemon.
  if (rawArgs[0] === "__complete") return (await import("./cli/complete.ts")).runComplete(rawArgs.slice(1));
  if (rawArgs.length === 1 && (rawArgs[0] === "--version" || rawArgs[0] === "-v")) {
    process.stdout.write(`${buildInfo().version}\n`);
    return ExitCode.ok;
  }
  const { ownWords, parseCommandLine } = await import("./cli/flags.ts");
  const own = ownWords(rawArgs);
  let path: readonly string[] = [];
  try {
    const line = await parseCommandLine(main, rawArgs);
    path = line.path;
    if (line.help) {
      await (await import("./cli/help.ts")).showHelp(line.command, line.path);
      return rawArgs.length === 0 ? ExitCode.usage : ExitCode.ok;
    }
    // Under sudo, every file and directory a command creates is the invoking user's from the start (safe-fs.ts).
    await runCommand(main, { rawArgs });
    // `run` hands back its child command's exit code.
    return typeof process.exitCode === "number" ? process.exitCode : ExitCode.ok;
  } catch (error) {
    const { printError } = await import("./cli/output.ts");
    const { isUsageError, usageError } = await import("./cli/usage.ts");
    const { notDirectoryInPath } = await import("./platform/safe-fs-errors.ts");
    const mapped = isUsageError(error) ? usageError(error, path) : (notDirectoryInPath(error) ?? asDiskFull(error));
    return printError(mapped, {
      json: own.includes("--json"),
      debug: own.includes("--debug") || !!process.env.DEBUG,
    });
  }
}

const code = await run(process.argv.slice(2));
// Commands that serve return only after shutdown; exit explicitly so no stray handle keeps the process alive.
process.exit(code);
