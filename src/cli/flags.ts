/**
 * citty ignores flags it does not know, so a typo such as `--proxy-https-prot 8443` would silently serve on 443.
 * We check every flag against the resolved command's arguments first and fail with a suggestion.
 */
import type { ArgsDef, CommandDef } from "citty";
import { GotunnelError } from "../core/errors.ts";
import { closest } from "../core/suggest.ts";

const BUILTIN_FLAGS = ["help", "h"];

async function resolve<T>(value: T | (() => T | Promise<T>) | Promise<T>): Promise<T> {
  return typeof value === "function" ? await (value as () => T | Promise<T>)() : await value;
}

/** Descends `ca rotate …` to the innermost command; returns it and the arguments that follow its name. */
export async function innermostCommand(
  main: CommandDef,
  rawArgs: string[],
): Promise<[CommandDef, string[], CommandDef | undefined]> {
  let command = main;
  let parent: CommandDef | undefined;
  let index = 0;
  while (index < rawArgs.length) {
    const subCommands = command.subCommands ? await resolve(command.subCommands) : undefined;
    const entry = subCommands?.[rawArgs[index]!];
    if (!entry) break;
    parent = command;
    command = (await resolve(entry)) as CommandDef;
    index++;
  }
  return [command, rawArgs.slice(index), parent];
}

function knownNames(args: ArgsDef): string[] {
  const names = [...BUILTIN_FLAGS];
  for (const [name, def] of Object.entries(args)) {
    names.push(name);
    const alias = (def as { alias?: string | string[] }).alias;
    if (alias) names.push(...(Array.isArray(alias) ? alias : [alias]));
  }
  return names;
}

/** Throws E_USAGE for the first flag the command does not define. Arguments after `--` belong to a child command. */
export async function rejectUnknownFlags(main: CommandDef, rawArgs: string[]): Promise<void> {
  const [command, rest] = await innermostCommand(main, rawArgs);
  if (command === main) return;
  const known = knownNames(command.args ? await resolve(command.args) : {});
  for (const arg of rest) {
    if (arg === "--") return;
    if (!arg.startsWith("-") || arg === "-" || /^-\d/.test(arg)) continue;
    const name = arg.replace(/^--?/, "").split("=")[0]!;
    const bare = name.startsWith("no-") ? name.slice(3) : name;
    if (known.includes(name) || known.includes(bare)) continue;
    const suggestion = closest(
      bare,
      known.filter((flag) => flag.length > 1),
    );
    const commandName = (await resolve(command.meta))?.name ?? "command";
    throw new GotunnelError("E_USAGE", `unknown flag ${arg.split("=")[0]} for \`gotunnel ${commandName}\``, {
      hint: suggestion ? `did you mean --${suggestion}?` : `run \`gotunnel ${commandName} --help\` for its flags`,
    });
  }
}
