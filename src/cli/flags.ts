/**
 * The command line, checked before citty runs it: which command it names (an unknown one fails with a suggestion),
 * whether help was asked for, and every flag against the arguments of the command it was given to. citty ignores
 * flags it does not know, so a typo such as `--proxy-https-prot 8443` would silently serve on 443.
 */
import type { ArgsDef, CommandDef } from "citty";
import { GotunnelError } from "../core/errors.ts";
import { closest } from "../core/suggest.ts";
import { argsOf, commandLine, flagDefinition, type Segment, takesValue } from "./command.ts";

const HELP_FLAGS = ["--help", "-h"];

export interface ParsedCommandLine {
  /** The command that runs (or whose help is shown) and its words from `gotunnel` on. */
  command: CommandDef;
  path: readonly string[];
  /** `gotunnel`, `gotunnel help [command…]`, or `--help`/`-h` anywhere before `--`. */
  help: boolean;
}

/** gotunnel's own words: after `--` they belong to the command `run` or `up NAME --` starts. */
export function ownWords(rawArgs: readonly string[]): readonly string[] {
  const dashes = rawArgs.indexOf("--");
  return dashes === -1 ? rawArgs : rawArgs.slice(0, dashes);
}

export async function parseCommandLine(main: CommandDef, rawArgs: readonly string[]): Promise<ParsedCommandLine> {
  if (rawArgs[0] === "help") {
    const words = rawArgs.slice(1).filter((word) => !word.startsWith("-"));
    const last = (await commandLine(main, words)).at(-1) as Segment;
    return { command: last.command, path: last.path, help: true };
  }
  const segments = await commandLine(main, rawArgs);
  const last = segments.at(-1) as Segment;
  const help = rawArgs.length === 0 || ownWords(rawArgs).some((word) => HELP_FLAGS.includes(word));
  if (!help) {
    for (const [index, segment] of segments.entries()) await rejectUnknownFlags(segment, segments[index + 1]);
  }
  return { command: last.command, path: last.path, help };
}

function knownNames(args: ArgsDef): string[] {
  const names = HELP_FLAGS.map((flag) => flag.replace(/^--?/, ""));
  for (const [name, def] of Object.entries(args)) {
    names.push(name);
    const alias = (def as { alias?: string | string[] }).alias;
    if (alias) names.push(...(Array.isArray(alias) ? alias : [alias]));
  }
  return names;
}

/** Throws E_USAGE for the first flag the segment's command does not define. */
async function rejectUnknownFlags(segment: Segment, next: Segment | undefined): Promise<void> {
  const args = await argsOf(segment.command);
  const known = knownNames(args);
  const commandName = ["gotunnel", ...segment.path].join(" ");
  for (let index = 0; index < segment.words.length; index++) {
    const word = segment.words[index] as string;
    if (word === "--") return;
    if (!word.startsWith("-") || word === "-" || /^-\d/.test(word)) continue;
    const flag = word.split("=")[0] as string;
    const name = flag.replace(/^--?/, "");
    const bare = name.startsWith("no-") ? name.slice(3) : name;
    if (known.includes(name) || known.includes(bare)) {
      if (!word.includes("=") && takesValue(flagDefinition(args, word))) index++;
      continue;
    }
    throw new GotunnelError("E_USAGE", `unknown flag ${flag} for \`${commandName}\``, {
      hint: flagHint(bare, known, commandName, next, flag),
    });
  }
}

function flagHint(bare: string, known: string[], commandName: string, next: Segment | undefined, flag: string) {
  const suggestion = closest(
    bare,
    known.filter((name) => name.length > 1),
  );
  if (suggestion) return `did you mean --${suggestion}?`;
  // `gotunnel --json list`: flags belong to the command they come after.
  if (next) return `flags go after the command they are for: \`${["gotunnel", ...next.path].join(" ")} ${flag}\``;
  return `run \`${commandName} --help\` for its flags`;
}
