/**
 * Just enough of the POSIX shell grammar (XCU 2.2–2.3, 2.9) to read a dev command: words with their quotes
 * removed, the list and pipeline operators between commands, and a flag for anything gotunnel does not model
 * (expansions, redirections, subshells, globs). It never runs or expands anything: a line with such parts is run by
 * `sh -c` as written, and gotunnel only reads its last simple command.
 */

export type ShellToken = { kind: "word"; value: string } | { kind: "op"; value: string };

export interface ShellLine {
  tokens: ShellToken[];
  /** True when the line has parts beyond words and operators: `$x`, `` `…` ``, `>`, `(`, a glob, a comment. */
  complex: boolean;
}

/** Characters that end a word and start an operator. */
const OPERATOR_CHARS = new Set(["|", "&", ";"]);
/** Unquoted, these mean something this reader does not model. */
const COMPLEX_CHARS = new Set(["$", "`", "<", ">", "(", ")", "*", "?", "[", "{", "}", "\n", "!"]);

export function readShellLine(line: string): ShellLine {
  const tokens: ShellToken[] = [];
  let complex = false;
  let word: string | undefined;
  const endWord = () => {
    if (word !== undefined) tokens.push({ kind: "word", value: word });
    word = undefined;
  };
  for (let i = 0; i < line.length; i++) {
    const char = line[i] as string;
    if (char === " " || char === "\t") {
      endWord();
    } else if (char === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) return { tokens, complex: true };
      word = (word ?? "") + line.slice(i + 1, end);
      i = end;
    } else if (char === '"') {
      const read = doubleQuoted(line, i + 1);
      if (!read) return { tokens, complex: true };
      complex ||= read.expands;
      word = (word ?? "") + read.value;
      i = read.end;
    } else if (char === "\\") {
      word = (word ?? "") + (line[i + 1] ?? "");
      i++;
    } else if (OPERATOR_CHARS.has(char)) {
      endWord();
      const double = line[i + 1] === char && char !== ";";
      tokens.push({ kind: "op", value: double ? char + char : char });
      if (double) i++;
    } else if (char === "#" && word === undefined) {
      return { tokens, complex: true };
    } else {
      if (COMPLEX_CHARS.has(char) || (char === "~" && word === undefined)) complex = true;
      word = (word ?? "") + char;
    }
  }
  endWord();
  return { tokens, complex };
}

/** Reads a "…" string from `start` (after the quote): its value, where it ends, and whether it expands anything. */
function doubleQuoted(line: string, start: number): { value: string; end: number; expands: boolean } | undefined {
  let value = "";
  let expands = false;
  for (let i = start; i < line.length; i++) {
    const char = line[i] as string;
    if (char === '"') return { value, end: i, expands };
    if (char === "\\" && ['"', "\\", "$", "`"].includes(line[i + 1] ?? "")) {
      value += line[i + 1];
      i++;
    } else {
      if (char === "$" || char === "`") expands = true;
      value += char;
    }
  }
  return undefined;
}

/** The words of the last simple command (after the last `&&`, `||`, `;` or `|`); [] when the line ends in `&`/`;`. */
export function lastCommandWords(tokens: readonly ShellToken[]): string[] {
  const words: string[] = [];
  for (const token of tokens) {
    if (token.kind === "op") words.length = 0;
    else words.push(token.value);
  }
  return words;
}

/** `NAME=value` before a command: an assignment for that command, not its program (XCU 2.9.1). */
export function isAssignment(word: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*=/.test(word);
}

/** Quotes a word for `sh -c` so it stays one word, whatever it holds. */
export function quoteWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
