/**
 * `gotunnel __complete routes`: what the completion scripts (cli/completion/) ask while the user presses Tab. Hidden
 * from help and completion, answered before citty (main.ts), and it never starts a daemon: no daemon, no names.
 */
import { ExitCode } from "../core/errors.ts";
import { currentRouteNames } from "../daemon/spawn.ts";
import { resolvePaths } from "../platform/paths.ts";
import { printLine } from "./output.ts";

/** A shell waits on this while the user waits on the shell; a daemon answers in milliseconds. */
const ROUTE_NAMES_TIMEOUT_MS = 1_000;

export async function runComplete(words: readonly string[]): Promise<number> {
  if (words[0] !== "routes") return ExitCode.usage;
  const names = await currentRouteNames(resolvePaths(), ROUTE_NAMES_TIMEOUT_MS);
  // A wildcard name would need quoting on the command line, and a shell would glob it: complete the plain ones.
  for (const name of names.filter((name) => !name.startsWith("*"))) printLine(name);
  return ExitCode.ok;
}
