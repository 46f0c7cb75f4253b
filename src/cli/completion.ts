/** `gotunnel completion bash|zsh|fish|powershell`: a completion script for commands, flags and route names. */
import { buildInfo } from "../core/build-info.ts";
import { GotunnelError } from "../core/errors.ts";
import { command } from "./command.ts";
import { COMPLETION_SHELLS, type CompletionShell, completionScript } from "./completion/index.ts";
import { printText } from "./output.ts";

export default command({
  meta: {
    name: "completion",
    description: "Print the shell completion script: commands, flags, and the daemon's current route names",
    examples: [
      ["source <(gotunnel completion bash)", "bash, now; `>> ~/.bashrc` for every shell"],
      // biome-ignore lint/suspicious/noTemplateCurlyInString: zsh's own ${…}, printed as is.
      ['gotunnel completion zsh > "${fpath[1]}/_gotunnel"', "zsh, from the next shell on"],
      ["gotunnel completion fish > ~/.config/fish/completions/gotunnel.fish"],
      ["gotunnel completion powershell | Out-String | Invoke-Expression", "PowerShell; add it to $PROFILE"],
    ],
    complete: { shell: COMPLETION_SHELLS },
  },
  args: {
    shell: { type: "positional", required: true, description: `One of ${COMPLETION_SHELLS.join(", ")}` },
  },
  async run({ args }) {
    const shell = parseShell(args.shell);
    const { main } = await import("./commands.ts");
    printText(await completionScript(shell, main, buildInfo().version));
  },
});

function parseShell(value: string): CompletionShell {
  if ((COMPLETION_SHELLS as readonly string[]).includes(value)) return value as CompletionShell;
  throw new GotunnelError("E_USAGE", `no completion for ${JSON.stringify(value)}`, {
    hint: `use one of ${COMPLETION_SHELLS.join(", ")}, e.g. \`gotunnel completion bash\``,
  });
}
