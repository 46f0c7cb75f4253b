/**
 * `bun run release [--dir dist/release] [--out dist/packaging] [--repo owner/name]`: generates the Homebrew formula
 * and the Scoop manifest from a release's checksums.txt and the templates in packaging/. Versions, URLs and hashes are
 * never typed by hand: they come from checksums.txt, which `bun run build:all` wrote from the files themselves.
 *
 * This module is also the one place that knows how release files are named and how checksums.txt is written and read
 * (build-all.ts and the tests import it), so the builder, the installer's test and the generator cannot drift apart.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

export interface ReleaseTarget {
  /** Our name, used in file names: `gotunnel-<version>-<name>[.exe]`. */
  name: string;
  /** `bun build --compile --target` value. */
  bunTarget: string;
  exe: boolean;
}

export const RELEASE_TARGETS: readonly ReleaseTarget[] = [
  { name: "linux-x64", bunTarget: "bun-linux-x64", exe: false },
  { name: "linux-arm64", bunTarget: "bun-linux-arm64", exe: false },
  { name: "linux-x64-musl", bunTarget: "bun-linux-x64-musl", exe: false },
  { name: "darwin-x64", bunTarget: "bun-darwin-x64", exe: false },
  { name: "darwin-arm64", bunTarget: "bun-darwin-arm64", exe: false },
  { name: "windows-x64", bunTarget: "bun-windows-x64", exe: true },
];

export const CHECKSUMS_FILE = "checksums.txt";
export const DEFAULT_REPO = "gotunnel/gotunnel";
const TEMPLATES = { formula: "packaging/homebrew/gotunnel.rb.tmpl", manifest: "packaging/scoop/gotunnel.json.tmpl" };
const OUTPUTS = { formula: "gotunnel.rb", manifest: "gotunnel.json" };

/** SemVer 2.0.0 without the leading "v" (tags are `v<version>`). */
const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
const REPO_NAME = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

export function assertVersion(version: string): string {
  if (!SEMVER.test(version))
    throw new Error(`"${version}" is not a release version (expected e.g. 1.2.3 or 1.2.3-rc.1)`);
  return version;
}

export function binaryName(version: string, target: ReleaseTarget): string {
  return `gotunnel-${version}-${target.name}${target.exe ? ".exe" : ""}`;
}

export function findTarget(name: string): ReleaseTarget {
  const target = RELEASE_TARGETS.find((candidate) => candidate.name === name);
  if (!target) throw new Error(`unknown target "${name}"; known: ${RELEASE_TARGETS.map((t) => t.name).join(", ")}`);
  return target;
}

/** One line per file, sorted by name, in the format `sha256sum -c` reads: `<hex>  <name>`. */
export function formatChecksums(entries: ReadonlyMap<string, string>): string {
  return [...entries.keys()]
    .sort()
    .map((file) => `${entries.get(file)}  ${file}\n`)
    .join("");
}

/**
 * Reads sha256sum output (text mode `<hex>  <name>` or binary mode `<hex> *<name>`). Strict on purpose: a line that
 * is not exactly one hash and one flat file name is an error, never skipped, because the installer trusts this file.
 */
export function parseChecksums(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  text.split("\n").forEach((raw, index) => {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") return;
    const match = /^([0-9a-fA-F]{64}) [ *]([^\s/\\]+)$/.exec(line);
    if (!match)
      throw new Error(`${CHECKSUMS_FILE} line ${index + 1}: expected "<64 hex digits>  <file name>": ${line}`);
    const hash = match[1]!;
    const file = match[2]!;
    if (entries.has(file)) throw new Error(`${CHECKSUMS_FILE} line ${index + 1}: ${file} is listed twice`);
    entries.set(file, hash.toLowerCase());
  });
  if (entries.size === 0) throw new Error(`${CHECKSUMS_FILE} is empty`);
  return entries;
}

/** The one version every `gotunnel-<version>-<target>` file in checksums.txt agrees on. */
export function releaseVersion(entries: ReadonlyMap<string, string>): string {
  const versions = new Set<string>();
  for (const file of entries.keys()) {
    for (const target of RELEASE_TARGETS) {
      const suffix = `-${target.name}${target.exe ? ".exe" : ""}`;
      if (file.startsWith("gotunnel-") && file.endsWith(suffix)) versions.add(file.slice(9, -suffix.length));
    }
  }
  if (versions.size !== 1) {
    throw new Error(
      `${CHECKSUMS_FILE} must list binaries of exactly one version; found: ${[...versions].join(", ") || "none"}`,
    );
  }
  return assertVersion([...versions][0]!);
}

/** Replaces every `{{key}}`; an unknown key or a value that cannot be resolved is an error that names it. */
export function renderTemplate(template: string, lookup: (key: string) => string): string {
  const problems: string[] = [];
  const output = template.replace(/\{\{\s*([^}\s]+)\s*\}\}/g, (_match, key: string) => {
    try {
      return lookup(key);
    } catch (error) {
      problems.push(`{{${key}}}: ${(error as Error).message}`);
      return "";
    }
  });
  if (problems.length > 0) throw new Error(`template has unresolved placeholders:\n  ${problems.join("\n  ")}`);
  return output;
}

export interface PackagingInput {
  checksums: string;
  repo: string;
  templates: { formula: string; manifest: string };
}

/** Placeholders: version, tag, repo, `url:<target>`, `sha256:<target>`. */
export function packagingLookup(entries: ReadonlyMap<string, string>, version: string, repo: string) {
  if (!REPO_NAME.test(repo)) throw new Error(`"${repo}" is not a GitHub owner/name`);
  const base = `https://github.com/${repo}/releases/download/v${version}`;
  return (key: string): string => {
    if (key === "version") return version;
    if (key === "tag") return `v${version}`;
    if (key === "repo") return repo;
    const [kind, targetName] = key.split(":");
    if ((kind === "url" || kind === "sha256") && targetName) {
      const file = binaryName(version, findTarget(targetName));
      const hash = entries.get(file);
      if (!hash) throw new Error(`${CHECKSUMS_FILE} has no entry for ${file}`);
      return kind === "url" ? `${base}/${file}` : hash;
    }
    throw new Error("unknown placeholder (known: version, tag, repo, url:<target>, sha256:<target>)");
  };
}

export function generatePackaging(input: PackagingInput): { version: string; formula: string; manifest: string } {
  const entries = parseChecksums(input.checksums);
  const version = releaseVersion(entries);
  const lookup = packagingLookup(entries, version, input.repo);
  const formula = renderTemplate(input.templates.formula, lookup);
  const manifest = renderTemplate(input.templates.manifest, lookup);
  try {
    JSON.parse(manifest);
  } catch (error) {
    throw new Error(`the generated Scoop manifest is not valid JSON: ${(error as Error).message}`);
  }
  return { version, formula, manifest };
}

/** Streams the file through SHA-256: release binaries are ~100 MB each. */
export async function sha256File(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) hasher.update(chunk);
  return hasher.digest("hex");
}

/** Re-hashes the listed files that are present in `dir`; returns how many were checked. */
export async function verifyPresentFiles(dir: string, entries: ReadonlyMap<string, string>): Promise<number> {
  let checked = 0;
  for (const [file, expected] of entries) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    const actual = await sha256File(path);
    if (actual !== expected) throw new Error(`${file}: SHA-256 is ${actual} but ${CHECKSUMS_FILE} says ${expected}`);
    checked++;
  }
  return checked;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: "string", default: "dist/release" },
      out: { type: "string", default: "dist/packaging" },
      repo: { type: "string", default: process.env.GOTUNNEL_REPO ?? DEFAULT_REPO },
    },
  });
  const root = resolve(import.meta.dir, "..");
  const dir = resolve(values.dir!);
  const checksumsPath = join(dir, CHECKSUMS_FILE);
  if (!existsSync(checksumsPath)) throw new Error(`${checksumsPath} not found: run \`bun run build:all\` first`);
  const checksums = readFileSync(checksumsPath, "utf8");
  const templates = {
    formula: readFileSync(join(root, TEMPLATES.formula), "utf8"),
    manifest: readFileSync(join(root, TEMPLATES.manifest), "utf8"),
  };
  const result = generatePackaging({ checksums, repo: values.repo!, templates });
  const checked = await verifyPresentFiles(dir, parseChecksums(checksums));
  const out = resolve(values.out!);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, OUTPUTS.formula), result.formula);
  writeFileSync(join(out, OUTPUTS.manifest), result.manifest);
  console.log(`gotunnel ${result.version}: ${checked} file(s) in ${dir} match ${CHECKSUMS_FILE}`);
  console.log(`wrote ${join(out, OUTPUTS.formula)} and ${join(out, OUTPUTS.manifest)} (repo ${values.repo})`);
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    console.error(`release: ${(error as Error).message}`);
    process.exit(1);
  });
}
