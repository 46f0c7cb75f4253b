/** Help output and citty's usage errors, mapped onto our error type (exit code 2, with the command's usage hint). */
import { GotunnelError } from "../core/errors.ts";

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
