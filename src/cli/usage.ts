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

export function usageError(error: unknown): GotunnelError {
  const message = (error as Error).message;
  return new GotunnelError("E_USAGE", message.charAt(0).toLowerCase() + message.slice(1), {
    hint: "run `gotunnel --help` for the commands, or `gotunnel <command> --help` for a command's flags",
    cause: error,
  });
}
