/** `gotunnel completion SHELL`: the script for that shell, from the command definitions. */
import type { CommandDef } from "citty";
import { bashScript } from "./bash.ts";
import { fishScript } from "./fish.ts";
import { powershellScript } from "./powershell.ts";
import { completionSpec } from "./spec.ts";
import { zshScript } from "./zsh.ts";

export const COMPLETION_SHELLS = ["bash", "zsh", "fish", "powershell"] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

const GENERATORS = { bash: bashScript, zsh: zshScript, fish: fishScript, powershell: powershellScript };

export async function completionScript(shell: CompletionShell, main: CommandDef, version: string): Promise<string> {
  return GENERATORS[shell](await completionSpec(main), version);
}
