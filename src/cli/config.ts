/**
 * `gotunnel config show`: the config this directory resolves to (files, profile, routes, settings).
 * `gotunnel config migrate [FILE…]`: rewrites config files in an older shape (src/project/migrate.ts).
 */
import { describeChange } from "../config/legacy.ts";
import type { LoadedConfig } from "../config/load.ts";
import { REDACTED } from "../core/redact.ts";
import type { MigrateOutcome } from "../project/migrate.ts";
import { globalArgs, jsonArg, loadCommandConfig, overridesFrom } from "./args.ts";
import { command } from "./command.ts";
import { info, printJson, printLine, printPairs, success, warn } from "./output.ts";

const show = command({
  meta: {
    name: "show",
    description: "The config this directory resolves to: files, profile, routes and settings",
    examples: [
      ["gotunnel config show", "which files were read, the routes and the proxy's ports"],
      ["gotunnel config show --profile demo", "with the profile `demo` merged over the file"],
      ["gotunnel config show --json", "the whole resolved config (webhook secrets redacted)"],
    ],
  },
  args: {
    ...globalArgs,
    ...jsonArg,
    config: { type: "string", valueHint: "file", description: "Config file to load instead of discovering one" },
  },
  async run({ args }) {
    const loaded = await loadCommandConfig(overridesFrom(args));
    if (args.json) return printJson(shown(loaded));
    const { config, files, profile } = loaded;
    info(
      `files: ${files.length === 0 ? "none (defaults)" : files.join(", ")}${profile ? ` · profile ${profile}` : ""}`,
    );
    printPairs(config.routes.map((route) => [route.name, describeTarget(route)]));
    const { httpsPort, httpPort, host } = config.proxy;
    printLine(`  proxy: https ${httpsPort}, http ${httpPort}, on ${host}`);
    for (const webhook of config.notify) printLine(`  notify: ${webhook.url} (${webhook.events.join(", ")})`);
    if (config.discovery.docker) printLine("  discovery: docker (containers labelled gotunnel.route)");
  },
});

function describeTarget(route: LoadedConfig["config"]["routes"][number]): string {
  if (route.targets) {
    const health = route.health ? `, health ${route.health.path} every ${route.health.intervalMs} ms` : "";
    return `${route.targets.map((target) => target.origin).join(", ")} (${route.policy ?? "round_robin"}${health})`;
  }
  if (!route.dev) return route.target.origin;
  const command = Array.isArray(route.dev.command) ? route.dev.command.join(" ") : route.dev.command;
  return `\`${command}\`${route.dev.port === undefined ? " (a free port)" : ` on port ${route.dev.port}`}`;
}

/** The resolved config as JSON; a webhook's secret is shown as REDACTED (the file has it). */
function shown(loaded: LoadedConfig) {
  const notify = loaded.config.notify.map((webhook) => ({ ...webhook, secret: REDACTED }));
  return { ...loaded, config: { ...loaded.config, notify } };
}

const migrate = command({
  meta: {
    name: "migrate",
    description:
      "Rewrite config files in an older shape (the Go gotunnel's config.yaml) as the current one; a .ts file gets the edits printed",
    examples: [
      ["gotunnel config migrate", "every config file gotunnel reads here, the user file included"],
      ["gotunnel config migrate config.yaml", "one file; the original is kept as a backup"],
    ],
  },
  args: {
    ...jsonArg,
    file: {
      type: "positional",
      required: false,
      valueHint: "FILE",
      description: "The file to migrate (default: every config file gotunnel reads here, the user file included)",
    },
  },
  async run({ args }) {
    const { configFilePaths } = await import("../config/load.ts");
    const { migrateFile } = await import("../project/migrate.ts");
    const files = args.file ? [args.file] : configFilePaths({ cwd: process.cwd() });
    const outcomes: MigrateOutcome[] = [];
    for (const file of files) outcomes.push(await migrateFile(file, process.env));
    if (args.json) return printJson({ files: outcomes });
    if (outcomes.length === 0) info("no config files here: nothing to migrate");
    for (const outcome of outcomes) printOutcome(outcome);
  },
});

function printOutcome(outcome: MigrateOutcome): void {
  if (outcome.status === "current") {
    info(`${outcome.file}: already in the current shape`);
    return;
  }
  if (outcome.status === "rewritten") {
    success(`${outcome.file}: rewritten from version ${outcome.from}; the original is ${outcome.backup}`);
    for (const change of outcome.changes) printLine(`    ${describeChange(change)}`);
    if (outcome.lostComments) warn(`its comments were not kept: copy the ones you want from ${outcome.backup}`);
    return;
  }
  const what = outcome.kind === "rc" ? "in rc syntax" : "code";
  warn(`${outcome.file} is ${what}, so gotunnel does not rewrite it. Make these edits:`);
  for (const line of outcome.edits) printLine(`    ${line}`);
  printLine(`  The whole config in the current shape:\n${outcome.replacement}`);
}

export default command({
  meta: {
    name: "config",
    description: "Show the resolved config, or migrate config files from an older shape",
    usage: ["show [options]", "migrate [FILE] [--json]"],
    examples: [
      ["gotunnel config show", "the config this directory resolves to"],
      ["gotunnel config migrate", "rewrite the Go gotunnel's config.yaml (version 1) as version 2"],
    ],
  },
  subCommands: { show, migrate },
});
