/**
 * What every completion script knows, read from the command definitions (cli/commands.ts): for each command path
 * (`""`, `ca`, `ca rotate`), its sub-commands, its flags and what their values are, and what each positional
 * argument completes to. The scripts (bash.ts, zsh.ts, fish.ts, powershell.ts) only encode this in their shell.
 */
import type { ArgDef, CommandDef } from "citty";
import { argsOf, type Completion, metaOf, subCommandsOf } from "../command.ts";

/** A flag's value: free text, a file name, or one of these words. */
export type FlagValue = "text" | "file" | readonly string[];

export interface FlagSpec {
  /** `--domain` and, when there is one, `-d`. */
  long: string;
  short?: string;
  /** Absent for a flag that takes no value. */
  value?: FlagValue;
  description: string;
}

export interface CommandSpec {
  /** Words after `gotunnel`, space-separated; "" for the top level. */
  path: string;
  description: string;
  subCommands: { name: string; description: string }[];
  flags: FlagSpec[];
  /** By position; undefined: nothing to offer (a new name, say). */
  positionals: (Completion | undefined)[];
}

/** Value hints that name a path (`--config <file>`, `--ca-dir <dir>`). */
const PATH_HINTS = new Set(["file", "dir"]);

const HELP_FLAG: FlagSpec = { long: "--help", short: "-h", description: "Show this help" };
const VERSION_FLAG: FlagSpec = { long: "--version", short: "-v", description: "Print the version" };

export async function completionSpec(main: CommandDef): Promise<CommandSpec[]> {
  const specs: CommandSpec[] = [];
  await visit(main, [], specs);
  return specs;
}

async function visit(definition: CommandDef, path: string[], specs: CommandSpec[]): Promise<void> {
  const meta = await metaOf(definition);
  const args = await argsOf(definition);
  const spec: CommandSpec = {
    path: path.join(" "),
    description: meta.description,
    subCommands: [],
    flags: [...Object.entries(args).flatMap(([name, def]) => flagSpecs(name, def)), HELP_FLAG],
    positionals: Object.entries(args)
      .filter(([, def]) => def.type === "positional")
      .map(([name]) => meta.complete?.[name]),
  };
  if (path.length === 0) spec.flags.push(VERSION_FLAG);
  specs.push(spec);
  for (const [name, sub] of (await subCommandsOf(definition)) ?? []) {
    const subMeta = await metaOf(sub);
    if (subMeta.hidden) continue;
    spec.subCommands.push({ name, description: subMeta.description });
    await visit(sub, [...path, name], specs);
  }
}

/** A boolean that is on by default also has its `--no-` form. */
function flagSpecs(name: string, def: ArgDef): FlagSpec[] {
  if (def.type === "positional") return [];
  const alias = "alias" in def && def.alias !== undefined ? [def.alias].flat() : [];
  const short = alias.find((a) => a.length === 1);
  const description = def.description ?? "";
  const value = flagValue(def);
  const flag: FlagSpec = {
    long: `--${name}`,
    ...(short ? { short: `-${short}` } : {}),
    ...(value ? { value } : {}),
    description,
  };
  if (def.type !== "boolean" || def.default !== true) return [flag];
  return [flag, { long: `--no-${name}`, description: `Turn --${name} off` }];
}

/** Enum options; `text|json` or `system,nss` hints are word lists too; `file`/`dir` complete paths. */
function flagValue(def: ArgDef): FlagValue | undefined {
  if (def.type === "enum") return def.options ?? "text";
  if (def.type !== "string") return undefined;
  const hint = def.valueHint ?? "";
  if (PATH_HINTS.has(hint)) return "file";
  const words = hint.split(/[|,]/);
  return words.length > 1 ? words : "text";
}

/** Every way to write `flag` on the command line: its long name, then its short one. */
export function spellings(flag: FlagSpec): string[] {
  return flag.short ? [flag.long, flag.short] : [flag.long];
}

/** What a flag's value completes to, as the bash and zsh scripts read it: none, text, file, or `words:a b c`. */
export function valueKind(value: FlagValue | undefined): string {
  if (value === undefined) return "none";
  return typeof value === "string" ? value : `words:${value.join(" ")}`;
}
