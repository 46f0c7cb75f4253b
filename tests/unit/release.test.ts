/**
 * scripts/release.ts: checksums.txt written and read strictly, and the Homebrew formula and Scoop manifest generated
 * from the real templates in packaging/ with every version, URL and hash taken from checksums.txt.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { signingKeyKind } from "../../scripts/build-all.ts";
import {
  assertVersion,
  binaryName,
  findTarget,
  formatChecksums,
  generatePackaging,
  parseChecksums,
  RELEASE_TARGETS,
  releaseVersion,
  renderTemplate,
} from "../../scripts/release.ts";

const ROOT = join(import.meta.dir, "..", "..");
const templates = {
  formula: readFileSync(join(ROOT, "packaging", "homebrew", "gotunnel.rb.tmpl"), "utf8"),
  manifest: readFileSync(join(ROOT, "packaging", "scoop", "gotunnel.json.tmpl"), "utf8"),
};

/** A distinct, recognisable hash per file: the digit repeated 64 times. */
function releaseChecksums(version: string, skip: string[] = []): { text: string; hashes: Map<string, string> } {
  const hashes = new Map<string, string>();
  RELEASE_TARGETS.forEach((target, index) => {
    if (!skip.includes(target.name)) hashes.set(binaryName(version, target), String(index + 1).repeat(64));
  });
  hashes.set("install.sh", "a".repeat(64));
  hashes.set(`gotunnel_${version}_amd64.deb`, "b".repeat(64));
  return { text: formatChecksums(hashes), hashes };
}

describe("release file names", () => {
  test("gotunnel-<version>-<os>-<arch>, .exe on Windows, -musl for the musl build", () => {
    expect(RELEASE_TARGETS.map((target) => binaryName("1.2.3", target))).toEqual([
      "gotunnel-1.2.3-linux-x64",
      "gotunnel-1.2.3-linux-arm64",
      "gotunnel-1.2.3-linux-x64-musl",
      "gotunnel-1.2.3-darwin-x64",
      "gotunnel-1.2.3-darwin-arm64",
      "gotunnel-1.2.3-windows-x64.exe",
    ]);
    expect(findTarget("linux-x64-musl").bunTarget).toBe("bun-linux-x64-musl");
    expect(() => findTarget("freebsd-x64")).toThrow(/unknown target "freebsd-x64"; known: linux-x64, /);
  });

  test("versions are SemVer without the tag's v", () => {
    expect(assertVersion("1.2.3-rc.1+build.5")).toBe("1.2.3-rc.1+build.5");
    for (const bad of ["v1.2.3", "1.2", "1.2.3 ", "1.2.3/../x", ""])
      expect(() => assertVersion(bad)).toThrow(/not a release/);
  });
});

describe("checksums.txt", () => {
  test("is written sorted in sha256sum's format and reads back to the same entries", () => {
    const { text, hashes } = releaseChecksums("1.2.3");
    const lines = text.trimEnd().split("\n");
    expect(lines).toHaveLength(hashes.size);
    expect(lines[0]).toBe(`${"5".repeat(64)}  gotunnel-1.2.3-darwin-arm64`);
    const names = lines.map((line) => line.slice(66));
    expect(names).toEqual([...hashes.keys()].sort());
    expect(text.endsWith("\n")).toBe(true);
    expect(parseChecksums(text)).toEqual(hashes);
  });

  test("reads binary-mode lines, upper-case hex and CRLF line ends", () => {
    const entries = parseChecksums(`${"AB".repeat(32)} *gotunnel-1.0.0-linux-x64\r\n\r\n`);
    expect(entries).toEqual(new Map([["gotunnel-1.0.0-linux-x64", "ab".repeat(32)]]));
  });

  const invalid: [string, string, RegExp][] = [
    [
      "a short hash",
      `${"a".repeat(63)}  gotunnel-1.0.0-linux-x64\n`,
      /line 1: expected "<64 hex digits> {2}<file name>"/,
    ],
    ["one space only", `${"a".repeat(64)} gotunnel-1.0.0-linux-x64\n`, /line 1: expected/],
    ["a path, not a name", `${"a".repeat(64)}  ../gotunnel\n`, /line 1: expected/],
    ["a name with spaces", `${"a".repeat(64)}  my gotunnel\n`, /line 1: expected/],
    ["junk on line 2", `${"a".repeat(64)}  a\nhello\n`, /line 2: expected/],
    ["a name listed twice", `${"a".repeat(64)}  a\n${"b".repeat(64)}  a\n`, /line 2: a is listed twice/],
    ["nothing at all", "\n\n", /checksums\.txt is empty/],
  ];
  test.each(invalid)("rejects %s", (_, text, error) => {
    expect(() => parseChecksums(text)).toThrow(error);
  });

  test("the release version is the one all binaries agree on", () => {
    expect(releaseVersion(parseChecksums(releaseChecksums("2.0.0-beta.1").text))).toBe("2.0.0-beta.1");
    const mixed = `${releaseChecksums("1.0.0").text}${"c".repeat(64)}  gotunnel-1.0.1-linux-x64\n`;
    expect(() => releaseVersion(parseChecksums(mixed))).toThrow(/exactly one version; found: 1\.0\.0, 1\.0\.1/);
    expect(() => releaseVersion(parseChecksums(`${"c".repeat(64)}  install.sh\n`))).toThrow(/found: none/);
  });
});

describe("templates", () => {
  test("every placeholder is replaced; unknown ones are all reported by name", () => {
    expect(renderTemplate("v{{ version }} of {{repo}}", (key) => ({ version: "1", repo: "a/b" })[key]!)).toBe(
      "v1 of a/b",
    );
    const lookup = (key: string) => {
      if (key === "known") return "x";
      throw new Error("unknown placeholder");
    };
    expect(() => renderTemplate("{{known}} {{nope}} {{sha256:plan9-mips}}", lookup)).toThrow(
      /unresolved placeholders:\n {2}\{\{nope\}\}: unknown placeholder\n {2}\{\{sha256:plan9-mips\}\}/,
    );
  });
});

describe("generated Homebrew formula and Scoop manifest", () => {
  const { text, hashes } = releaseChecksums("1.4.0");
  const generated = generatePackaging({ checksums: text, repo: "acme/gotunnel", templates });
  const base = "https://github.com/acme/gotunnel/releases/download/v1.4.0";

  test("the formula pins each macOS and Linux binary to its URL and hash, with nothing left unfilled", () => {
    expect(generated.version).toBe("1.4.0");
    const { formula } = generated;
    expect(formula).not.toContain("{{");
    expect(formula).toContain('version "1.4.0"');
    expect(formula).toContain('homepage "https://github.com/acme/gotunnel"');
    for (const name of ["darwin-arm64", "darwin-x64", "linux-arm64", "linux-x64"]) {
      const file = `gotunnel-1.4.0-${name}`;
      // The url line and its sha256 line sit together, so each platform gets its own hash.
      expect(formula).toContain(`url "${base}/${file}"\n      sha256 "${hashes.get(file)}"`);
    }
    expect(formula).not.toContain("musl");
    expect(formula).not.toContain("windows");
  });

  test("the manifest is valid JSON with the Windows binary's URL (renamed to gotunnel.exe) and hash", () => {
    const manifest = JSON.parse(generated.manifest);
    expect(manifest.version).toBe("1.4.0");
    expect(manifest.architecture["64bit"]).toEqual({
      url: `${base}/gotunnel-1.4.0-windows-x64.exe#/gotunnel.exe`,
      hash: hashes.get("gotunnel-1.4.0-windows-x64.exe"),
    });
    expect(manifest.bin).toBe("gotunnel.exe");
    expect(manifest.autoupdate.hash.url).toBe("$baseurl/checksums.txt");
    expect(generated.manifest).not.toContain("{{");
  });

  test("a release missing a platform the templates need is an error that names the file", () => {
    const partial = releaseChecksums("1.4.0", ["windows-x64"]).text;
    expect(() => generatePackaging({ checksums: partial, repo: "acme/gotunnel", templates })).toThrow(
      /\{\{url:windows-x64\}\}: checksums\.txt has no entry for gotunnel-1\.4\.0-windows-x64\.exe/,
    );
  });

  test("a repository that is not owner/name is refused", () => {
    expect(() => generatePackaging({ checksums: text, repo: "acme/gotunnel; rm -rf /", templates })).toThrow(
      /is not a GitHub owner\/name/,
    );
  });
});

describe("signing key detection", () => {
  test("minisign secret keys and armored gpg private keys are told apart; anything else is refused", () => {
    const minisign = "untrusted comment: minisign encrypted secret key\nRWRTY0Iy...\n";
    expect(signingKeyKind(minisign)).toBe("minisign");
    expect(signingKeyKind("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQ...\n")).toBe("gpg");
    expect(() => signingKeyKind("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")).toThrow(/neither a minisign secret key/);
    expect(() => signingKeyKind("untrusted comment: minisign public key 1234\nRWQ...\n")).toThrow(/neither/);
  });
});
