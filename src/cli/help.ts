/**
 * `gotunnel help [command…]`: the same text as `gotunnel <command> --help`. main.ts answers it before citty runs
 * (it needs the whole tree of commands), so this definition only lists it, its argument and examples.
 */
import type { CommandDef } from "citty";
import { buildInfo } from "../core/build-info.ts";
import { command } from "./command.ts";
import { helpStyle, helpWidth, printText } from "./output.ts";
import { renderHelp } from "./usage.ts";

export async function showHelp(definition: CommandDef, path: readonly string[]): Promise<void> {
  const width = helpWidth();
  const options = { style: helpStyle, version: buildInfo().version, ...(width === undefined ? {} : { width }) };
  printText(await renderHelp(definition, path, options));
}

export default command({
  meta: {
    name: "help",
    description: "Show a command's usage, flags and examples (same as `gotunnel <command> --help`)",
    usage: ["[command…]"],
    examples: [
      ["gotunnel help", "every command"],
      ["gotunnel help up", "same as `gotunnel up --help`"],
      ["gotunnel help ca rotate"],
    ],
    complete: { command: "commands" },
  },
  args: {
    command: { type: "positional", required: false, description: "The command, e.g. `up` or `ca rotate`" },
  },
});
