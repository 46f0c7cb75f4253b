/**
 * Property test for the hosts block: thousands of random hosts files from a seeded PRNG (CRLF/LF mixes, missing
 * final newline, comments, tabs, unicode, junk, marker look-alikes, existing and broken gotunnel blocks) and
 * random name sets. The generator knows which lines are the user's, so the checks do not trust the parser:
 * - the output minus the expected block is exactly the user's bytes, in order;
 * - applying the same names again (in any order) gives the same bytes;
 * - removing the names gives back the user's bytes: the original file, when it had no gotunnel lines.
 * Reproduce a failure with HOSTS_FUZZ_SEED=<seed printed in the error> bun test tests/unit/hosts-property.test.ts.
 */
import { expect, test } from "bun:test";
import { namesInBlock, withNames } from "../../src/hosts/block.ts";
import { prng } from "../helpers/prng.ts";

const CASES = 3000;
const BASE_SEED = Number(process.env.HOSTS_FUZZ_SEED ?? 20_240_601);
const START = "# gotunnel-start";
const END = "# gotunnel-end";
const ADDRESSES = ["127.0.0.1", "::1"];

class Rng {
  readonly random: () => number;
  constructor(seed: number) {
    this.random = prng(seed);
  }
  int(max: number): number {
    return Math.floor(this.random() * max);
  }
  chance(p: number): boolean {
    return this.random() < p;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }
}

const JUNK_CHARS = [
  "a",
  "z",
  "0",
  "9",
  ".",
  "-",
  " ",
  "\t",
  "#",
  "é",
  "☃",
  "日本",
  "🙂",
  "\u0000",
  "\u00a0",
  "gotunnel",
  "-start",
  "-end",
  "localhost",
  "myapp.local",
  ":",
];
const LOOKALIKES = [
  "#gotunnel-start",
  "# gotunnel-start (old)",
  "# GOTUNNEL-END",
  "## gotunnel-end",
  "# gotunnel-startx",
  "x # gotunnel-end",
];
const USER_NAMES = [
  "localhost",
  "myapp.local",
  "myapp.local.example.com",
  "api.myapp.local",
  "ip6-localhost",
  "db",
  "bücher.local",
];
const USER_ADDRESSES = ["127.0.0.1", "::1", "10.0.0.7", "192.168.1.20", "fe80::1%eth0", "0.0.0.0"];

function label(rng: Rng): string {
  const chars = "abcdefghijklmnopqrstuvwxyz0123456789";
  const length = 1 + rng.int(8);
  let text = rng.pick([..."abcdefghijklmnopqrstuvwxyz"]);
  for (let i = 1; i < length; i += 1) text += rng.chance(0.1) && i < length - 1 ? "-" : rng.pick([...chars]);
  return text;
}

/** A canonical name (lower case, ends in a letters-only TLD, so normalization does not change it). */
function canonicalName(rng: Rng): string {
  if (rng.chance(0.2)) return rng.pick(["myapp.local", "api.myapp.local", "a.test"]);
  const labels = Array.from({ length: 1 + rng.int(2) }, () => label(rng));
  return `${labels.join(".")}.${rng.pick(["local", "test", "dev", "internal"])}`;
}

function isMarkerLike(content: string): boolean {
  const trimmed = content.replace(/^[ \t]+|[ \t]+$/g, "");
  return trimmed === START || trimmed === END;
}

/** A user line's content: never a marker; a "\r" only mid-line so "\r\n" stays the only way a line ends in CR. */
function userContent(rng: Rng, insideBlock: boolean): string {
  const kind = rng.int(insideBlock ? 3 : 6);
  let content: string;
  if (kind === 0) content = `#${rng.chance(0.5) ? " " : ""}${junk(rng)}`;
  else if (kind === 1) content = rng.pick(["", " ", "\t", " \t "]);
  else if (kind === 2) content = `${rng.pick(USER_ADDRESSES)} ${rng.pick(USER_NAMES)} ${rng.pick(USER_NAMES)}`;
  else if (kind === 3) content = `${rng.pick(USER_ADDRESSES)}${rng.pick([" ", "\t", "  "])}${rng.pick(USER_NAMES)}`;
  else if (kind === 4) content = rng.pick(LOOKALIKES);
  else content = junk(rng);
  return isMarkerLike(content) ? `x${content}` : content;
}

function junk(rng: Rng): string {
  let text = "";
  const length = rng.int(12);
  for (let i = 0; i < length; i += 1) text += rng.chance(0.05) ? "\rq" : rng.pick(JUNK_CHARS);
  return text;
}

interface Line {
  content: string;
  user: boolean;
  /** The gotunnel name on an owned entry line. */
  name?: string;
}

function marker(rng: Rng, text: string): Line {
  return { content: rng.chance(0.2) ? `  ${text}\t` : text, user: false };
}

function ownedEntries(rng: Rng): Line[] {
  return Array.from({ length: rng.int(4) }, () => {
    const name = canonicalName(rng);
    const address = rng.pick(["127.0.0.1", "::1", "192.168.1.20"]);
    return { content: `${rng.chance(0.1) ? " " : ""}${address}${rng.pick([" ", "\t"])}${name}`, user: false, name };
  });
}

/** The lines of one random file. Stray end markers never follow a dangling start (that would close it). */
function generateLines(rng: Rng, withGotunnelLines: boolean): Line[] {
  const lines: Line[] = [];
  let dangling = false;
  const pieces = rng.int(25);
  for (let piece = 0; piece < pieces; piece += 1) {
    const roll = withGotunnelLines ? rng.int(20) : 0;
    if (roll === 1) {
      lines.push(marker(rng, START), ...ownedEntries(rng));
      if (rng.chance(0.4)) lines.push({ content: userContent(rng, true), user: true });
      lines.push(...ownedEntries(rng), marker(rng, END));
      dangling = false;
    } else if (roll === 2) {
      // The comment stops the dangling block, so the user lines after it can be anything.
      lines.push(marker(rng, START), ...ownedEntries(rng), { content: `# after ${junk(rng)}`, user: true });
      dangling = true;
    } else if (roll === 3 && !dangling) {
      lines.push(marker(rng, END));
    } else {
      lines.push({ content: userContent(rng, false), user: true });
    }
  }
  return lines;
}

interface Generated {
  text: string;
  /** The user's lines with their exact terminators, in order. */
  userText: string;
  hasGotunnelLines: boolean;
  existingNames: string[];
  /** The line ending the block must use. */
  eol: "\n" | "\r\n";
}

function generateFile(rng: Rng): Generated {
  const lines = generateLines(rng, rng.chance(0.4));
  const crlfShare = rng.pick([0, 0.1, 0.5, 0.9, 1]);
  const unterminatedLast = rng.chance(0.3);
  let text = "";
  let userText = "";
  const counts = { user: { lf: 0, crlf: 0 }, owned: { lf: 0, crlf: 0 } };
  lines.forEach((line, index) => {
    const crlf = rng.chance(crlfShare);
    const eol = index === lines.length - 1 && unterminatedLast ? "" : crlf ? "\r\n" : "\n";
    if (eol !== "") counts[line.user ? "user" : "owned"][crlf ? "crlf" : "lf"] += 1;
    text += line.content + eol;
    if (line.user) userText += line.content + eol;
  });
  const names = lines.flatMap((line) => (line.name === undefined ? [] : [line.name]));
  return {
    text,
    userText,
    hasGotunnelLines: lines.some((line) => !line.user),
    existingNames: [...new Set(names)].sort(),
    eol: majorityEol(counts.user) ?? majorityEol(counts.owned) ?? "\n",
  };
}

/** Terminator counts → the majority; "\n" on a tie; undefined when nothing was terminated. */
function majorityEol({ lf, crlf }: { lf: number; crlf: number }): "\n" | "\r\n" | undefined {
  if (lf === 0 && crlf === 0) return undefined;
  return crlf > lf ? "\r\n" : "\n";
}

/** Random route names, and the canonical names the block must then hold. */
function generateNames(rng: Rng): { names: string[]; expected: string[] } {
  const names = Array.from({ length: rng.int(6) }, () => {
    const roll = rng.int(10);
    if (roll === 0) return rng.pick(["localhost", "app.localhost", "*.localhost", "*.myapp.local"]);
    const name = canonicalName(rng);
    return roll === 1 ? name.toUpperCase() : name;
  });
  const canonical = names.map((name) => name.toLowerCase());
  const kept = canonical.filter(
    (name) => !name.startsWith("*.") && name !== "localhost" && !name.endsWith(".localhost"),
  );
  return { names, expected: [...new Set(kept)].sort() };
}

function renderBlock(names: readonly string[], eol: string): string {
  if (names.length === 0) return "";
  const entries = names.flatMap((name) => ADDRESSES.map((address) => `${address} ${name}`));
  return [START, ...entries, END].map((line) => line + eol).join("");
}

function shuffled<T>(rng: Rng, items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = rng.int(i + 1);
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(what);
}

function runCase(seed: number): void {
  const rng = new Rng(seed);
  const file = generateFile(rng);
  const { names, expected } = generateNames(rng);
  const out = withNames(file.text, names);
  const blockText = renderBlock(expected, file.eol);
  const at = blockText === "" ? -1 : out.indexOf(blockText);
  check(blockText === "" || at >= 0, "the output does not contain the expected block");
  const rest = at < 0 ? out : out.slice(0, at) + out.slice(at + blockText.length);
  check(rest === file.userText, "the output minus the block is not exactly the user's bytes");
  check(JSON.stringify(namesInBlock(file.text).sort()) === JSON.stringify(file.existingNames), "names read back");
  check(JSON.stringify(namesInBlock(out)) === JSON.stringify(expected), "namesInBlock(output)");
  check(withNames(out, names) === out, "applying the same names twice changed the bytes");
  check(withNames(out, shuffled(rng, names)) === out, "the order of the names changed the bytes");
  const removed = withNames(out, []);
  check(removed === file.userText, "removing the names did not give back the user's bytes");
  if (!file.hasGotunnelLines) check(removed === file.text, "add then remove did not give back the original file");
  check(withNames(withNames(removed, names), []) === removed, "add then remove on the cleaned file");
}

test(`${CASES} random hosts files round-trip byte for byte (seed ${BASE_SEED})`, () => {
  let withBlocks = 0;
  for (let index = 0; index < CASES; index += 1) {
    const seed = BASE_SEED + index;
    try {
      runCase(seed);
    } catch (error) {
      const rng = new Rng(seed);
      const file = generateFile(rng);
      const { names } = generateNames(rng);
      throw new Error(
        `hosts property failed: ${error instanceof Error ? error.message : String(error)}; HOSTS_FUZZ_SEED=${seed} (case ${index})\ninput: ${JSON.stringify(file.text)}\nnames: ${JSON.stringify(names)}`,
        { cause: error },
      );
    }
    if (generateFile(new Rng(seed)).hasGotunnelLines) withBlocks += 1;
  }
  // The generator must really exercise both kinds of file.
  expect(withBlocks).toBeGreaterThan(CASES / 5);
  expect(withBlocks).toBeLessThan(CASES - CASES / 5);
});
