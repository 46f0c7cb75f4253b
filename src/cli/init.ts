/** `gotunnel init [--name NAME] [--force]`: write a commented gotunnel.config.ts for the project here. */
import { initProject } from "../project/init.ts";
import { jsonArg } from "./args.ts";
import { command } from "./command.ts";
import { info, printJson, success, warn } from "./output.ts";

export default command({
  meta: {
    name: "init",
    description:
      "Write a commented gotunnel.config.ts for the framework found here (Vite, Next.js, …, or a plain port)",
    examples: [
      [
        "gotunnel init",
        "https://<this directory's name>.local, with the dev server's command when a framework is found",
      ],
      ["gotunnel init --name shop.local", "another route name"],
      ["gotunnel init --force", "replace an existing gotunnel.config.* (kept as .bak)"],
    ],
  },
  args: {
    ...jsonArg,
    name: { type: "string", valueHint: "name", description: "The route's name (default: this directory's, + .local)" },
    force: {
      type: "boolean",
      description: "Replace an existing gotunnel.config.* (it is kept as a .bak file)",
    },
  },
  async run({ args }) {
    const result = initProject(process.cwd(), {
      force: args.force === true,
      ...(args.name === undefined ? {} : { name: args.name }),
    });
    if (args.json) return printJson(result);
    const { project } = result;
    const found = project.framework ? `${project.framework.label} (${project.evidence})` : "no framework";
    success(`wrote ${result.file}: https://${project.name}, ${found}`);
    for (const { file, backup } of result.replaced) info(`the previous ${file} is now ${backup}`);
    for (const file of result.stillApplies) warn(`${file} still applies, below the new file`);
    info(
      project.command
        ? "run `gotunnel up` to start the dev server on that name"
        : "start your server, then run `gotunnel up`",
    );
  },
});
