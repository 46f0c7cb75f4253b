/**
 * gotunnel's commands are citty commands whose meta says a little more: examples for `--help`, the usage lines when
 * the arguments alone cannot say them (`run [options] -- <command…>`), and what a shell completes for a positional
 * argument. The walk over the tree of commands (lazy sub-commands included) lives here too: help, the check for
 * unknown commands and flags, and the completion scripts all read the same definitions.
 */
import { type ArgDef, type ArgsDef, type CommandDef, type CommandMeta, defineCommand } from "citty";
import { GotunnelError } from "../core/errors.ts";
import { suggestCommand } from "../core/suggest.ts";

/** A command line and what it does (shown after a `#`). */
export type Example = readonly [commandLine: string, comment?: string];

/** What the shell offers for a positional argument: the daemon's current route names, command names, or words. */
export type Completion = "routes" | "commands" | readonly string[];

export interface GotunnelMeta extends CommandMeta {
  name: string;
  description: string;
  /** Every command has some: `gotunnel help CMD` ends with them. */
  examples: readonly Example[];
  /** What follows `gotunnel <path>` on each usage line, when the arguments alone cannot say it. */
  usage?: readonly string[];
  /** By positional argument name. */
  complete?: Readonly<Record<string, Completion>>;
}

/** citty's defineCommand, with gotunnel's meta required. */
export function command<const T extends ArgsDef = ArgsDef>(
  definition: CommandDef<T> & { meta: GotunnelMeta },
): CommandDef<T> {
  return defineCommand(definition);
}

async function resolve<T>(value: T | (() => T | Promise<T>) | Promise<T>): Promise<T> {
  return typeof value === "function" ? await (value as () => T | Promise<T>)() : await value;
}

/** Every command is defined with `command()`; main.ts's top level too. */
export async function metaOf(definition: CommandDef): Promise<GotunnelMeta> {
  return (await resolve(definition.meta)) as GotunnelMeta;
}

export async function argsOf(definition: CommandDef): Promise<ArgsDef> {
  return definition.args ? await resolve(definition.args) : {};
}

/** Sub-commands by name, loaded (each is a lazy import in main.ts); hidden ones included. */
export async function subCommandsOf(definition: CommandDef): Promise<Map<string, CommandDef> | undefined> {
  if (!definition.subCommands) return undefined;
  const entries = Object.entries(await resolve(definition.subCommands));
  const loaded = await Promise.all(entries.map(async ([name, sub]) => [name, await resolve(sub)] as const));
  return new Map(loaded as [string, CommandDef][]);
}

/** Flags that take a value as the next word (`--config file`), so that word is not read as a command. */
export function takesValue(def: ArgDef | undefined): boolean {
  return def?.type === "string" || def?.type === "enum";
}

/** `-d`/`--domain`/`--domain=x` → the definition it names, by name or alias. */
export function flagDefinition(args: ArgsDef, flag: string): ArgDef | undefined {
  const name = flag.replace(/^--?/, "").split("=")[0] ?? "";
  for (const [key, def] of Object.entries(args)) {
    const alias = (def as { alias?: string | string[] }).alias;
    const aliases = alias === undefined ? [] : Array.isArray(alias) ? alias : [alias];
    if (key === name || aliases.includes(name)) return def;
  }
  return undefined;
}

/** Index of the first word that is not a flag or a flag's value, before any `--`; -1 when there is none. */
function firstWord(words: readonly string[], args: ArgsDef): number {
  for (let index = 0; index < words.length; index++) {
    const word = words[index] as string;
    if (word === "--") return -1;
    if (!word.startsWith("-") || word === "-") return index;
    if (!word.includes("=") && takesValue(flagDefinition(args, word))) index++;
  }
  return -1;
}

/** One command on a command line and the words that belong to it (its flags, before a sub-command's name). */
export interface Segment {
  command: CommandDef;
  path: readonly string[];
  words: readonly string[];
}

/**
 * Follows a command line down the tree as citty does (the first word that is not a flag names a sub-command), and
 * fails on a word that names none, suggesting the likely one. The last segment is the command that runs.
 */
export async function commandLine(main: CommandDef, rawArgs: readonly string[]): Promise<Segment[]> {
  const segments: Segment[] = [];
  let [current, path, words] = [main, [] as string[], rawArgs];
  for (;;) {
    const subCommands = current.subCommands ? await resolve(current.subCommands) : undefined;
    const index = subCommands ? firstWord(words, await argsOf(current)) : -1;
    if (!subCommands || index === -1) {
      segments.push({ command: current, path, words });
      return segments;
    }
    const name = words[index] as string;
    // Only the command named is loaded: a process holds every module it imports for as long as it runs, and `up`
    // runs for hours (issue 18). The others are loaded only to suggest a name for one that does not exist.
    if (!Object.hasOwn(subCommands, name)) {
      throw await unknownCommand(name, path, (await subCommandsOf(current)) as Map<string, CommandDef>);
    }
    const next = await resolve(subCommands[name] as CommandDef);
    segments.push({ command: current, path, words: words.slice(0, index) });
    [current, path, words] = [next, [...path, name], words.slice(index + 1)];
  }
}

async function unknownCommand(name: string, path: string[], subCommands: Map<string, CommandDef>) {
  const visible: string[] = [];
  for (const [key, sub] of subCommands) if (!(await metaOf(sub)).hidden) visible.push(key);
  const guess = suggestCommand(name, visible);
  const parent = ["gotunnel", ...path].join(" ");
  const where = path.length === 0 ? "" : ` for \`${parent}\``;
  return new GotunnelError("E_USAGE", `unknown command ${JSON.stringify(name)}${where}`, {
    hint: guess
      ? `did you mean \`${parent} ${guess}\`?`
      : `run \`${["gotunnel help", ...path].join(" ")}\` for the commands`,
    details: { command: name, ...(guess ? { suggestion: guess } : {}) },
  });
}
