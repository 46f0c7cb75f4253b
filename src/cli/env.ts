/**
 * `gotunnel env [--shell bash|zsh|fish|powershell]`: environment variables that make Node, Python, curl, OpenSSL and
 * Deno trust gotunnel's CA without touching any trust store. Use: `eval "$(gotunnel env)"`,
 * `gotunnel env --shell fish | source`, or `gotunnel env --shell powershell | Invoke-Expression`.
 */
import { resolvePaths } from "../platform/paths.ts";
import { defaultShell, renderEnv, runtimeTrustEnv, SHELLS, type Shell, writeCaBundle } from "../tls/bundle.ts";
import { jsonArg } from "./args.ts";
import { command } from "./command.ts";
import { printJson, printLine, withProgress } from "./output.ts";

export default command({
  meta: {
    name: "env",
    description: "Print variables that make Node, Python, curl and Deno trust gotunnel's CA",
    examples: [
      ['eval "$(gotunnel env)"', "bash and zsh"],
      ["gotunnel env --shell fish | source"],
      ["gotunnel env --shell powershell | Invoke-Expression"],
    ],
  },
  args: {
    ...jsonArg,
    shell: { type: "enum", options: [...SHELLS], description: "Quote for this shell (default: from $SHELL)" },
  },
  async run({ args }) {
    const { loadOrCreateCA } = await (await import("../tls/load.ts")).loadTls();
    const paths = resolvePaths();
    const { ca } = await withProgress((progress) => loadOrCreateCA(paths.caDir, { onStep: progress.step }));
    const bundle = await writeCaBundle({ caPem: ca.certPem, dataDir: paths.dataDir });
    const vars = runtimeTrustEnv(ca.certPath, bundle.path);
    if (args.json) printJson({ ...Object.fromEntries(vars), bundleSource: bundle.source });
    else
      printLine(
        renderEnv(vars, (args.shell as Shell | undefined) ?? defaultShell(process.platform, process.env.SHELL)),
      );
  },
});
