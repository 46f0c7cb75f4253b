/**
 * gotunnel's block in a hosts file, as pure text functions (no I/O; src/hosts/file.ts reads and writes).
 *
 * What gotunnel owns (STYLE 3, "own only what you marked"): the marker lines `# gotunnel-start` and
 * `# gotunnel-end`, and, between them, lines of exactly our entry shape `<ip> <one canonical name>`. Every other
 * byte of the file is the user's and is copied through unchanged: comments, tabs, unicode, blank lines, CRLF or
 * LF endings, a missing final newline. Names match exactly: `myapp.local` never touches a user's line for
 * `myapp.local.example.com` (the Go tool deleted every line containing the name as a substring). A new block
 * goes at the end of the file, in the file's dominant line ending; the block's bytes are the only ones that change.
 *
 * Damaged files (people edit /etc/hosts by hand), tested in tests/unit/hosts-block.test.ts:
 * - A marker is a line that equals a marker once surrounding spaces and tabs are trimmed; anything longer
 *   (`# gotunnel-start (old)`, `#gotunnel-start`) is an ordinary user line.
 * - Inside a block, a line that is not entry-shaped (a comment, a blank line, a multi-name line, a line with a
 *   trailing comment) is the user's: it is kept, in order, just below the rewritten block.
 * - A start marker with no end marker before the next start marker or the end of the file claims only the
 *   entry-shaped lines directly below it, so it can never swallow the rest of the file.
 * - Several blocks: their names are merged (namesInBlock), the rewritten block takes the first one's place and
 *   the others disappear. An end marker with no start marker is removed.
 * Each repair is listed in `ParsedHosts.issues` so the caller can log it.
 */
import { isIP } from "node:net";
import { checkDomain } from "../config/domain.ts";
import { GotunnelError } from "../core/errors.ts";

export const BLOCK_START = "# gotunnel-start";
export const BLOCK_END = "# gotunnel-end";
/** One line per address per name; both families so IPv6-first resolvers answer without falling back. */
export const DEFAULT_ADDRESSES: readonly string[] = ["127.0.0.1", "::1"];

export type Eol = "\n" | "\r\n";

export interface ParsedHosts {
  /** The user's bytes that come before gotunnel's block (all of them when there is no block). */
  before: string;
  /** Names in gotunnel's block(s), in file order without duplicates; null when the file has no start marker. */
  block: string[] | null;
  /** The user's bytes after the block, including user lines that sat inside a block. */
  after: string;
  /** The line ending gotunnel writes: the dominant one among the user's lines. */
  eol: Eol;
  /** One sentence per repaired problem (unterminated block, duplicate block, stray end marker). */
  issues: string[];
}

export interface BlockOptions {
  /** Addresses each name maps to; default `DEFAULT_ADDRESSES`. */
  addresses?: readonly string[];
  /** Line ending when the file gives no majority (empty, or as many CRLF as LF lines); default "\n". */
  defaultEol?: Eol;
}

export type SkipReason = "localhost" | "wildcard";

export interface SkippedName {
  name: string;
  reason: SkipReason;
}

export const SKIP_REASON_TEXT: Record<SkipReason, string> = {
  // RFC 6761 §6.3: resolvers treat localhost and *.localhost as loopback. Browsers, curl and systemd-resolved do
  // so without any hosts entry, and a hosts file cannot list every subdomain anyway.
  localhost: "localhost names resolve to loopback without a hosts entry (RFC 6761 §6.3)",
  wildcard: "a hosts file cannot express a wildcard; add each subdomain as its own route",
};

export interface HostsNamePlan {
  /** Canonical names that get entries: lower-case ASCII, deduplicated, sorted. */
  names: string[];
  skipped: SkippedName[];
}

/**
 * Validates names BEFORE anything reaches a file: a space, `#` or newline in a name would corrupt the hosts file or
 * inject a line of its own. Throws E_DOMAIN_INVALID naming every bad name; skips names that need no entry.
 */
export function planHostsNames(inputs: readonly string[]): HostsNamePlan {
  const names = new Set<string>();
  const skipped: SkippedName[] = [];
  const invalid: string[] = [];
  for (const input of new Set(inputs)) {
    const check = checkDomain(input);
    if (!check.ok) {
      invalid.push(`${JSON.stringify(input)} (${check.reason})`);
    } else if (isLocalhost(input.toLowerCase()) || isLocalhost(check.value.name)) {
      skipped.push({ name: input, reason: "localhost" });
    } else if (check.value.wildcard) {
      skipped.push({ name: input, reason: "wildcard" });
    } else {
      names.add(check.value.name);
    }
  }
  if (invalid.length > 0) {
    throw new GotunnelError("E_DOMAIN_INVALID", `Invalid name for the hosts file: ${invalid.join("; ")}.`, {
      hint: 'Use letters, digits and hyphens separated by dots, e.g. "myapp.local".',
      details: { invalid },
    });
  }
  return { names: [...names].sort(), skipped };
}

/** Checked on the raw input too: checkDomain turns a dotless "localhost" into "localhost.local". */
function isLocalhost(name: string): boolean {
  return name === "localhost" || name.endsWith(".localhost");
}

/** Sets gotunnel's block to exactly `names` (after planHostsNames); an empty set removes the block entirely. */
export function withNames(text: string, names: readonly string[], options: BlockOptions = {}): string {
  return renderHosts(text, planHostsNames(names).names, options);
}

/** Like withNames, for names that already went through planHostsNames (so skips were reported once). */
export function renderHosts(text: string, plannedNames: readonly string[], options: BlockOptions = {}): string {
  const layout = layoutOf(text, options.defaultEol ?? "\n");
  const block = plannedNames.length === 0 ? [] : blockLines(plannedNames, checkAddresses(options.addresses));
  return [...layout.before, ...block.map((line) => line + layout.eol), ...layout.after].join("");
}

/** The names gotunnel's block(s) currently hold; empty when there is no block. */
export function namesInBlock(text: string): string[] {
  return layoutOf(text, "\n").names ?? [];
}

export function parseHostsFile(text: string, defaultEol: Eol = "\n"): ParsedHosts {
  const layout = layoutOf(text, defaultEol);
  return {
    before: layout.before.join(""),
    block: layout.names,
    after: layout.after.join(""),
    eol: layout.eol,
    issues: layout.issues,
  };
}

function checkAddresses(addresses: readonly string[] = DEFAULT_ADDRESSES): string[] {
  const unique = [...new Set(addresses)];
  if (unique.length === 0) throw new RangeError("hosts entries need at least one address");
  const bad = unique.find((address) => isIP(address) === 0);
  if (bad !== undefined) throw new RangeError(`not an IP address: ${JSON.stringify(bad)}`);
  return unique;
}

function blockLines(names: readonly string[], addresses: readonly string[]): string[] {
  const entries = names.flatMap((name) => addresses.map((address) => `${address} ${name}`));
  return [BLOCK_START, ...entries, BLOCK_END];
}

/** Raw lines (each with its own terminator) split around where the block goes, with the block's names. */
interface Layout {
  before: string[];
  after: string[];
  names: string[] | null;
  eol: Eol;
  issues: string[];
}

type MarkerKind = "start" | "end" | null;

function layoutOf(text: string, defaultEol: Eol): Layout {
  const lines = splitLines(text);
  const user: string[] = [];
  const owned: string[] = [];
  const names = new Set<string>();
  const issues: string[] = [];
  let blockAt = -1;
  let blocks = 0;
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? "";
    const kind = markerKind(line);
    if (kind === null) {
      user.push(line);
      i += 1;
      continue;
    }
    owned.push(line);
    if (kind === "end") {
      issues.push(`line ${i + 1}: "${BLOCK_END}" without a start marker (removed)`);
      i += 1;
      continue;
    }
    blocks += 1;
    if (blockAt < 0) blockAt = user.length;
    else issues.push(`line ${i + 1}: a second gotunnel block (merged into the first)`);
    i = readBlock(lines, i, { user, owned, names, issues });
  }
  // With no block yet, the new one goes at the end, but before an unterminated last line: that way not one user
  // byte changes (no newline is added to it) and removing the block again gives back the original file exactly.
  if (blockAt < 0) blockAt = user.at(-1)?.endsWith("\n") === false ? user.length - 1 : user.length;
  return {
    before: user.slice(0, blockAt),
    after: user.slice(blockAt),
    names: blocks === 0 ? null : [...names],
    eol: dominantEol(user, owned, defaultEol),
    issues,
  };
}

interface BlockSink {
  user: string[];
  owned: string[];
  names: Set<string>;
  issues: string[];
}

/** Reads the block whose start marker is at `start`; returns the index of the first line after it. */
function readBlock(lines: readonly string[], start: number, sink: BlockSink): number {
  let close = start + 1;
  while (close < lines.length && markerKind(lines[close] ?? "") === null) close += 1;
  const terminated = close < lines.length && markerKind(lines[close] ?? "") === "end";
  let i = start + 1;
  for (; i < close; i += 1) {
    const line = lines[i] ?? "";
    const name = entryName(line);
    if (name !== undefined) {
      sink.owned.push(line);
      sink.names.add(name);
    } else if (terminated) {
      sink.user.push(line);
    } else {
      break;
    }
  }
  if (!terminated) {
    sink.issues.push(`line ${start + 1}: "${BLOCK_START}" without "${BLOCK_END}" (took only the entries below it)`);
    return i;
  }
  sink.owned.push(lines[close] ?? "");
  return close + 1;
}

function markerKind(line: string): MarkerKind {
  const content = stripEol(line).replace(/^[ \t]+|[ \t]+$/g, "");
  if (content === BLOCK_START) return "start";
  if (content === BLOCK_END) return "end";
  return null;
}

/** The name on an entry-shaped line (`<ip> <canonical name>`, nothing else), or undefined. */
function entryName(line: string): string | undefined {
  const fields = stripEol(line)
    .split(/[ \t]+/)
    .filter((field) => field !== "");
  if (fields.length !== 2) return undefined;
  const [address = "", name = ""] = fields;
  if (isIP(address) === 0) return undefined;
  const check = checkDomain(name);
  return check.ok && !check.value.wildcard && check.value.name === name ? name : undefined;
}

/** Splits after each "\n", so every line keeps its exact terminator and joining them gives back the text. */
function splitLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  while (start < text.length) {
    const newline = text.indexOf("\n", start);
    const end = newline < 0 ? text.length : newline + 1;
    lines.push(text.slice(start, end));
    start = end;
  }
  return lines;
}

function stripEol(line: string): string {
  if (line.endsWith("\r\n")) return line.slice(0, -2);
  return line.endsWith("\n") ? line.slice(0, -1) : line;
}

/**
 * Counted on the user's lines only, so the choice does not depend on the size of our own block (which would make
 * a second run flip it); our lines decide only when the user's lines have no terminator at all.
 */
function dominantEol(user: readonly string[], owned: readonly string[], defaultEol: Eol): Eol {
  for (const lines of [user, owned]) {
    let crlf = 0;
    let lf = 0;
    for (const line of lines) {
      if (line.endsWith("\r\n")) crlf += 1;
      else if (line.endsWith("\n")) lf += 1;
    }
    if (crlf > lf) return "\r\n";
    if (lf > crlf) return "\n";
    if (crlf > 0) return defaultEol;
  }
  return defaultEol;
}
