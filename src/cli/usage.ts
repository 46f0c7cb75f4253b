/**
 * `gotunnel help [command]` and `--help`, rendered from the command definitions (citty's own renderer prints a
 * negated alias such as `--no-s`, snake-cases a missing value hint into `<wait_timeout>`, and colours its output on
 * any stream), and citty's usage errors mapped onto our error type (exit code 2, with the command's help as hint).
 */
import type { ArgDef, ArgsDef, CommandDef } from "citty";
import { GotunnelError } from "../core/errors.ts";
import { globalArgs } from "./args.ts";
import { argsOf, type Example, metaOf, subCommandsOf } from "./command.ts";

export interface HelpStyle {
  heading(text: string): string;
  accent(text: string): string;
  dim(text: string): string;
}

/** Lines wrap at the terminal's width; pipes and files get this. */
const DEFAULT_WIDTH = 80;
const MIN_WIDTH = 40;
const MIN_DESCRIPTION_WIDTH = 30;
/** Wider labels and example lines do not set their column's width. */
const MAX_LABEL_WIDTH = 30;
const MAX_EXAMPLE_WIDTH = 44;
const INDENT = "  ";

export interface HelpOptions {
  style: HelpStyle;
  width?: number;
  version?: string;
}

export async function renderHelp(command: CommandDef, path: readonly string[], options: HelpOptions) {
  const { style } = options;
  const width = Math.max(MIN_WIDTH, options.width ?? DEFAULT_WIDTH);
  const meta = await metaOf(command);
  const args = await argsOf(command);
  const subCommands = await visibleSubCommands(command);
  const name = ["gotunnel", ...path].join(" ");
  const title = path.length === 0 && options.version ? `${name} ${options.version}` : name;
  const [first = "", ...rest] = wrap(`${title} — ${meta.description}`, width, "");
  const sections = [
    [`${style.heading(title)}${first.slice(title.length)}`, ...rest].join("\n"),
    section(style, "Usage", usageLines(name, meta.usage, args, command, subCommands.length > 0)),
    section(style, "Commands", table(style, subCommands, width)),
    section(style, "Arguments", table(style, positionalRows(args), width)),
    section(style, "Options", table(style, optionRows(args, false), width)),
    section(style, "Global options", table(style, optionRows(args, true), width)),
    section(style, "Examples", examples(style, meta.examples)),
  ];
  if (subCommands.length > 0) {
    const more = `Run \`${["gotunnel help", ...path].join(" ")} <command>\` for a command's flags and examples.`;
    sections.push(wrap(more, width, "").join("\n"));
  }
  return `${sections.filter((text) => text !== "").join("\n\n")}\n`;
}

async function visibleSubCommands(command: CommandDef): Promise<[string, string][]> {
  const rows: [string, string][] = [];
  for (const [key, sub] of (await subCommandsOf(command)) ?? []) {
    const meta = await metaOf(sub);
    if (!meta.hidden) rows.push([key, meta.description]);
  }
  return rows;
}

function section(style: HelpStyle, heading: string, lines: string[]): string {
  return lines.length === 0 ? "" : [style.heading(heading), ...lines].join("\n");
}

/**
 * `<NAME>` required, `[NAME]` optional; required flags are spelled out, the rest are `[options]`. A command with
 * sub-commands names them `<command>`, or `[command]` when it also runs by itself.
 */
function usageLines(
  name: string,
  usage: readonly string[] | undefined,
  args: ArgsDef,
  command: CommandDef,
  hasSubCommands: boolean,
): string[] {
  if (usage) return usage.map((line) => `${INDENT}${name} ${line}`);
  if (hasSubCommands && command.run) return [`${INDENT}${name} [options]`, `${INDENT}${name} <command> [options]`];
  if (hasSubCommands) return [`${INDENT}${name} ${command.default ? "[command]" : "<command>"} [options]`];
  const words = [name];
  for (const [key, def] of Object.entries(args)) {
    if (def.type === "positional")
      words.push(def.required === false ? `[${key.toUpperCase()}]` : `<${key.toUpperCase()}>`);
    else if (def.required === true && def.default === undefined) words.push(`--${key} ${valueHint(key, def)}`);
  }
  return [`${INDENT}${[...words, "[options]"].join(" ")}`];
}

function positionalRows(args: ArgsDef): [string, string][] {
  return Object.entries(args)
    .filter(([, def]) => def.type === "positional")
    .map(([key, def]) => [key.toUpperCase(), withNotes(def)]);
}

/** Options of this command, or the global ones it takes (args.ts globalArgs); `--help` is every command's. */
function optionRows(args: ArgsDef, global: boolean): [string, string][] {
  const rows: [string, string][] = [];
  for (const [key, def] of Object.entries(args)) {
    if (def.type === "positional" || Object.hasOwn(globalArgs, key) !== global) continue;
    rows.push([flagLabel(key, def), withNotes(def)]);
  }
  if (!global) rows.push(["-h, --help", "Show this help"]);
  return rows;
}

/** `-d, --domain <name>`; a boolean that is on by default reads `-s, --[no-]https`. */
function flagLabel(key: string, def: ArgDef): string {
  const alias = "alias" in def && def.alias !== undefined ? [def.alias].flat() : [];
  const short = alias.filter((a) => a.length === 1).map((a) => `-${a}, `);
  const negatable = def.type === "boolean" && def.default === true;
  const long = `--${negatable ? "[no-]" : ""}${key}`;
  const value = def.type === "string" || def.type === "enum" ? ` ${valueHint(key, def)}` : "";
  return `${short.join("") || "    "}${long}${value}`;
}

function valueHint(key: string, def: ArgDef): string {
  if (def.type === "enum" && def.options?.length) return `<${def.options.join("|")}>`;
  return `<${def.valueHint ?? key}>`;
}

function withNotes(def: ArgDef): string {
  const notes: string[] = [];
  if (def.required === true && def.default === undefined) notes.push("required");
  if (def.default !== undefined && def.default !== false)
    notes.push(`default: ${def.default === true ? "on" : def.default}`);
  const description = def.description ?? "";
  return notes.length === 0 ? description : `${description} (${notes.join("; ")})`;
}

/**
 * Two columns; the second wraps under itself. A label too wide for the first column (a long flag with its value
 * list) gets its description on the next line, in the same column.
 */
function table(style: HelpStyle, rows: [string, string][], width: number): string[] {
  const left = Math.max(0, ...rows.map(([label]) => label.length).filter((length) => length <= MAX_LABEL_WIDTH));
  const column = INDENT.length + left + 2;
  const textWidth = Math.max(MIN_DESCRIPTION_WIDTH, width - column);
  const under = (line: string) => `${" ".repeat(column)}${line}`;
  return rows.flatMap(([label, text]) => {
    const lines = wrap(text, textWidth, "");
    if (label.length > left) return [`${INDENT}${style.accent(label)}`, ...lines.map(under)];
    const [first = "", ...rest] = lines;
    const pad = " ".repeat(left - label.length + 2);
    return [`${INDENT}${style.accent(label)}${pad}${first}`.trimEnd(), ...rest.map(under)];
  });
}

/** Comments line up after the longest command line that is not too long to share a column. */
function examples(style: HelpStyle, list: readonly Example[]): string[] {
  const width = Math.max(0, ...list.map(([line]) => line.length).filter((length) => length <= MAX_EXAMPLE_WIDTH));
  return list.map(([line, comment]) => {
    if (!comment) return `${INDENT}${line}`;
    return `${INDENT}${line.padEnd(width)}  ${style.dim(`# ${comment}`)}`;
  });
}

/** Greedy word wrap; a word longer than the width gets a line of its own. */
function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== "" && indent.length + line.length + 1 + word.length > width) {
      lines.push(`${indent}${line}`);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(`${indent}${line}`);
  return lines;
}

export function isUsageError(error: unknown): boolean {
  return error instanceof Error && error.name === "CLIError";
}

/** citty colours parts of its messages even when stderr is not a terminal. */
const ANSI_ESCAPE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

/** citty's own errors (a missing required flag or argument), for the command at `path`. */
export function usageError(error: unknown, path: readonly string[]): GotunnelError {
  const message = (error as Error).message.replace(ANSI_ESCAPE, "");
  return new GotunnelError("E_USAGE", message.charAt(0).toLowerCase() + message.slice(1), {
    hint: `run \`${["gotunnel help", ...path].join(" ")}\` for its flags and examples`,
    cause: error,
  });
}
