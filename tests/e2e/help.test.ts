/**
 * Help and usage errors through the compiled binary (issue 19): `gotunnel help [command]`, a did-you-mean for an
 * unknown command, examples in every command's help, usage lines that say what a command takes (`run … --
 * <command…>`, `ca` without a required `rotate`), no placeholders made up from argument names (`--no-s`,
 * `<wait_timeout>`), and no ANSI codes on a pipe, in a file, or with NO_COLOR on a terminal (checked through a
 * pseudo-terminal made by `script`, util-linux).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, binaryEnv, E2EScope, type RunResult, requireBinary, run } from "../helpers/e2e.ts";
import { requireTools } from "../helpers/tools.ts";

const scope = new E2EScope();
afterAll(() => scope.dispose());

const ESC = "\x1b";
const pty = requireTools("script");

/** The binary with the test environment but without NO_COLOR, so only the streams decide about colour. */
function colorEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  const { NO_COLOR: _noColor, ...env } = binaryEnv(home);
  return { ...env, ...extra };
}

function gotunnel(args: string[]): Promise<RunResult> {
  requireBinary();
  const home = scope.dir("home");
  return run([BINARY, ...args], { cwd: home, env: colorEnv(home) });
}

/** Runs `shellCommand` on a pseudo-terminal (`script -qec`); returns what the terminal showed. */
async function onTerminal(shellCommand: string, env: Record<string, string>): Promise<string> {
  const result = await run(["script", "-qec", shellCommand, "/dev/null"], { env });
  expect(result.exitCode).toBeLessThan(128);
  return result.stdout;
}

/** The lines of a help section, up to the next blank line. */
function section(help: string, heading: string): string[] {
  const lines = help.split("\n");
  const start = lines.indexOf(heading);
  if (start === -1) return [];
  const end = lines.indexOf("", start);
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

/** Every command path the top-level help lists, and their sub-commands, from the help itself. */
async function everyCommand(): Promise<string[][]> {
  const paths: string[][] = [];
  const walk = async (path: string[]) => {
    const help = await gotunnel(["help", ...path]);
    expect(help.exitCode).toBe(0);
    for (const line of section(help.stdout, "Commands")) {
      const name = /^ {2}(\S+)/.exec(line)?.[1];
      if (!name) continue;
      paths.push([...path, name]);
      await walk([...path, name]);
    }
  };
  await walk([]);
  return paths;
}

describe("help", () => {
  test("`gotunnel help up` is `gotunnel up --help`, with usage, options and examples", async () => {
    const viaHelp = await gotunnel(["help", "up"]);
    const viaFlag = await gotunnel(["up", "--help"]);
    expect(viaHelp.exitCode).toBe(0);
    expect(viaHelp.stdout).toBe(viaFlag.stdout);
    expect(section(viaHelp.stdout, "Usage")).toEqual([
      "  gotunnel up [options]",
      "  gotunnel up NAME [options] -- <command…>",
    ]);
    expect(section(viaHelp.stdout, "Examples").join("\n")).toContain("gotunnel up myapp -- npm run dev");
    expect((await gotunnel(["help"])).stdout).toBe((await gotunnel(["--help"])).stdout);
  });

  test("every command's help has examples, and no option is named after its definition's key", async () => {
    const paths = await everyCommand();
    expect(paths).toContainEqual(["ca", "rotate"]);
    expect(paths).toContainEqual(["completion"]);
    for (const path of paths) {
      const help = (await gotunnel([...path, "--help"])).stdout;
      const examples = section(help, "Examples");
      expect(examples.length, `gotunnel ${path.join(" ")} --help has examples`).toBeGreaterThan(0);
      for (const example of examples) expect(example).toContain("gotunnel");
      expect(help, path.join(" ")).not.toMatch(/--no-[a-z]\b/);
      expect(help, path.join(" ")).not.toMatch(/<[a-z]+_[a-z_]+>/);
      expect(help).not.toContain(ESC);
    }
  });

  test("`run --help` shows the command after --; `ca --help` does not make rotate look required", async () => {
    const runHelp = (await gotunnel(["run", "--help"])).stdout;
    expect(section(runHelp, "Usage")).toEqual(["  gotunnel run [options] -- <command…>"]);
    expect(runHelp).toContain("--wait-timeout <duration>");
    const caUsage = section((await gotunnel(["ca", "--help"])).stdout, "Usage");
    expect(caUsage).toEqual(["  gotunnel ca [options]", "  gotunnel ca <command> [options]"]);
    const startHelp = (await gotunnel(["start", "--help"])).stdout;
    expect(startHelp).toContain("-s, --[no-]https");
    expect(section(startHelp, "Usage")).toEqual([
      "  gotunnel start --domain <name> --port <port> [options]",
      "  gotunnel start --domain <name> --port <port> --port <port>… [--target <url>…] [--policy <policy>] [options]",
    ]);
  });

  test("`gotunnel` alone shows the commands and exits 2", async () => {
    const result = await gotunnel([]);
    expect(result.exitCode).toBe(2);
    expect(section(result.stdout, "Commands").join("\n")).toContain("completion");
  });
});

describe("unknown commands and flags", () => {
  test("`gotunnel stat` suggests status (a prefix wins over `start`, one edit away)", async () => {
    const result = await gotunnel(["stat"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe('error unknown command "stat"\nhint  did you mean `gotunnel status`?\n');
  });

  test("a mistyped sub-command, and `help` of a mistyped command", async () => {
    const rotate = await gotunnel(["ca", "rotat"]);
    expect(rotate.exitCode).toBe(2);
    expect(rotate.stderr).toContain('unknown command "rotat" for `gotunnel ca`');
    expect(rotate.stderr).toContain("did you mean `gotunnel ca rotate`?");
    const help = await gotunnel(["help", "lgos"]);
    expect(help.exitCode).toBe(2);
    expect(help.stderr).toContain("did you mean `gotunnel logs`?");
    const unknown = await gotunnel(["frobnicate"]);
    expect(unknown.stderr).toContain("run `gotunnel help` for the commands");
  });

  test("a flag before the command is not dropped silently", async () => {
    const result = await gotunnel(["--json", "version"]);
    expect(result.exitCode).toBe(2);
    const { error } = JSON.parse(result.stdout) as { error: { message: string; hint: string } };
    expect(error.message).toBe("unknown flag --json for `gotunnel`");
    expect(error.hint).toContain("`gotunnel version --json`");
  });

  test("a missing required flag names the command's help", async () => {
    const result = await gotunnel(["start", "-d", "myapp"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("missing required argument: --port");
    expect(result.stderr).toContain("run `gotunnel help start`");
  });
});

describe("colour", () => {
  test("no ANSI codes on pipes: help, errors, warnings", async () => {
    const home = scope.dir("home");
    for (const args of [["--help"], ["help", "ca"], ["stat"], ["status"], ["ca", "rotate"]]) {
      const result = await run([BINARY, ...args], { cwd: home, env: colorEnv(home) });
      expect(result.stdout + result.stderr, args.join(" ")).not.toContain(ESC);
    }
  });

  test.skipIf(pty.skip)(pty.title("on a terminal: colour, but none with NO_COLOR"), async () => {
    const home = scope.dir("home");
    const command = `${BINARY} help ca; ${BINARY} stat`;
    const colored = await onTerminal(command, colorEnv(home, { TERM: "xterm" }));
    expect(colored).toContain(`${ESC}[1mUsage${ESC}[0m`);
    expect(colored).toContain(`${ESC}[31merror${ESC}[0m`);
    const plain = await onTerminal(command, colorEnv(home, { TERM: "xterm", NO_COLOR: "1" }));
    expect(plain).toContain("Usage");
    expect(plain).not.toContain(ESC);
  });

  test.skipIf(pty.skip)(pty.title("stdout on a terminal, stderr to a file: the file gets no colour"), async () => {
    const home = scope.dir("home");
    const file = join(home, "stderr.txt");
    // `ca rotate` warns (on stderr, through consola) that the old CA was trusted nowhere; `status` fails (exit 7).
    await onTerminal(`${BINARY} ca rotate 2>>${file}; ${BINARY} status 2>>${file}`, colorEnv(home, { TERM: "xterm" }));
    const text = readFileSync(file, "utf8");
    expect(text).toContain("WARN");
    expect(text).toContain("error the gotunnel daemon is not running");
    expect(text).not.toContain(ESC);
  });
});
