/** Help output and citty's usage errors, mapped onto our error type (exit code 2, with the command's usage hint). */
import type { CommandDef } from "citty";
import { GotunnelError } from "../core/errors.ts";

/** The command a user asked help for: `gotunnel start --help` → start. */
export async function resolveSubCommand(main: CommandDef, rawArgs: string[]): Promise<[CommandDef, CommandDef?]> {
  const name = rawArgs.find((arg) => !arg.startsWith("-"));
  const subCommands = typeof main.subCommands === "function" ? await main.subCommands() : await main.subCommands;
  const entry = name ? subCommands?.[name] : undefined;
  if (!entry) return [main];
  const sub = typeof entry === "function" ? await (entry as () => Promise<CommandDef>)() : await entry;
  return [sub as CommandDef, main];
}

export function isUsageError(error: unknown): boolean {
  return error instanceof Error && error.name === "CLIError";
}

/** citty colours parts of its messages even when stderr is not a terminal. */
const ANSI_ESCAPE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

export function usageError(error: unknown, command: string | undefined): GotunnelError {
  const message = (error as Error).message.replace(ANSI_ESCAPE, "");
  const hint =
    command && !message.toLowerCase().startsWith("unknown command")
      ? `run \`gotunnel ${command} --help\` for its flags`
      : "run `gotunnel --help` for the commands";
  return new GotunnelError("E_USAGE", message.charAt(0).toLowerCase() + message.slice(1), { hint, cause: error });
}
