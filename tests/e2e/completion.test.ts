/**
 * Shell completions through the compiled binary, in the real shells: `gotunnel completion bash|zsh|fish` is loaded
 * into bash (its programmable completion, called as readline would: COMP_WORDS split at `=` as bash splits them),
 * zsh (an interactive zsh on a pseudo-terminal from zsh/zpty, Tab pressed, matches captured from compadd) and fish
 * (`complete -C`). Commands, flags, flag values and the running daemon's route names complete; route names come
 * from `gotunnel __complete routes`, which never starts a daemon.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, binaryEnv, daemonPid, E2EScope, requireBinary, run, runGotunnel } from "../helpers/e2e.ts";
import { requireTools } from "../helpers/tools.ts";
import { startEchoUpstream } from "../helpers/upstreams.ts";

const scope = new E2EScope();
let home: string;
let env: Record<string, string>;
const scripts: Record<string, string> = {};

/** A dir on PATH where `gotunnel` is the binary under test, as an installed gotunnel would be. */
function binDir(): string {
  const dir = scope.dir("bin");
  symlinkSync(BINARY, join(dir, "gotunnel"));
  return dir;
}

beforeAll(async () => {
  requireBinary();
  home = scope.dir("home");
  const bin = binDir();
  env = { ...binaryEnv(home), PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}` };
  const upstream = startEchoUpstream();
  scope.defer(upstream.stop);
  const ports = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };
  for (const name of ["alpha", "beta.test"]) {
    const started = await runGotunnel(["start", "-d", name, "-p", String(upstream.port)], {
      cwd: home,
      home,
      env: ports,
    });
    expect(started.exitCode).toBe(0);
  }
  for (const shell of ["bash", "zsh", "fish", "powershell"]) {
    const result = await runGotunnel(["completion", shell], { cwd: home, home });
    expect(result.exitCode).toBe(0);
    scripts[shell] = join(home, `gotunnel.${shell}`);
    writeFileSync(scripts[shell], result.stdout);
  }
});

afterAll(() => scope.dispose());

const ROUTES = ["alpha.local", "beta.test"];
const COMMANDS_ST = ["start", "status", "stop", "stop-all"];
const COMMANDS_C = ["ca", "completion", "config"];
/** `--profile` is a global flag: every command that reads the config takes it, next to the port flags. */
const PROFILE_AND_PORTS = ["--profile", "--proxy-http-port", "--proxy-https-port"];

async function shellOutput(argv: string[]): Promise<string[]> {
  const result = await run(argv, { cwd: home, env, timeoutMs: 20_000 });
  expect(result.stderr).toBe("");
  expect(result.exitCode).toBe(0);
  return result.stdout.split("\n").filter((line) => line !== "");
}

const bash = requireTools("bash");
describe.skipIf(bash.skip)(bash.title("bash"), () => {
  /** COMPREPLY for the words, the last one being completed; `=` is its own word, as bash splits it. */
  async function complete(...words: string[]): Promise<string[]> {
    const quoted = words.map((word) => `'${word}'`).join(" ");
    const program = `source "$1"; COMP_WORDS=(${quoted}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _gotunnel; printf '%s\\n' "\${COMPREPLY[@]}"`;
    return (await shellOutput(["bash", "--norc", "--noprofile", "-c", program, "bash", scripts.bash as string])).sort();
  }

  test("the script registers _gotunnel for gotunnel", async () => {
    const program = `source "$1"; complete -p gotunnel`;
    expect(await shellOutput(["bash", "--norc", "-c", program, "bash", scripts.bash as string])).toEqual([
      "complete -F _gotunnel gotunnel",
    ]);
  });

  test("commands, sub-commands and flags", async () => {
    expect(await complete("gotunnel", "st")).toEqual(COMMANDS_ST);
    expect(await complete("gotunnel", "ca", "")).toEqual(["rotate"]);
    expect(await complete("gotunnel", "start", "--d")).toEqual(["--debug", "--domain"]);
    expect(await complete("gotunnel", "ca", "rotate", "--")).toEqual(["--allow-suffix", "--help", "--json"]);
    expect(await complete("gotunnel", "c")).toEqual(COMMANDS_C);
    expect(await complete("gotunnel", "config", "")).toEqual(["migrate", "show"]);
    expect(await complete("gotunnel", "init", "--")).toEqual(["--force", "--help", "--json", "--name"]);
    expect(await complete("gotunnel", "logs", "--w")).toEqual(["--webhooks"]);
    expect(await complete("gotunnel", "up", "--pro")).toEqual(PROFILE_AND_PORTS);
    expect(await complete("gotunnel", "config", "show", "--pro")).toEqual(PROFILE_AND_PORTS);
  });

  test("flag values, after a space or an =", async () => {
    expect(await complete("gotunnel", "env", "--shell", "")).toEqual(["bash", "fish", "powershell", "zsh"]);
    expect(await complete("gotunnel", "up", "--log-format", "=", "j")).toEqual(["json"]);
    expect(await complete("gotunnel", "completion", "f")).toEqual(["fish"]);
  });

  test("the daemon's current route names, after flags with values", async () => {
    expect(await complete("gotunnel", "stop", "")).toEqual(ROUTES);
    expect(await complete("gotunnel", "logs", "-n", "5", "a")).toEqual(["alpha.local"]);
  });

  test("every command the top-level help lists", async () => {
    const help = await runGotunnel(["help"], { cwd: home, home });
    const listed = help.stdout
      .split("\n\n")
      .find((part) => part.startsWith("Commands"))
      ?.split("\n")
      .slice(1)
      .map((line) => /^ {2}(\S+)/.exec(line)?.[1])
      .filter((name) => name !== undefined)
      .sort();
    expect(listed?.length).toBeGreaterThan(15);
    expect(await complete("gotunnel", "")).toEqual(listed as string[]);
  });
});

const zsh = requireTools("zsh");
describe.skipIf(zsh.skip)(zsh.title("zsh"), () => {
  /**
   * An interactive zsh (no rc files) on a pseudo-terminal made by zsh/zpty: compinit, the script sourced, compadd
   * wrapped to print each match it adds, then the line typed with a Tab. Prints the matches, one a line.
   */
  const HARNESS = `zmodload zsh/zpty
zpty shell zsh -f -i
zpty -w shell "PS1='' RPS1=''; autoload -Uz compinit && compinit -u -D && source \${(q)1}"
zpty -w shell 'compadd() { if (( ! \${argv[(I)-[OAD]]} )); then local -a m; builtin compadd -O m "$@"; print -rl -- \${m/#/MATCH:}; fi; builtin compadd "$@"; }'
zpty -w shell 'comppostfuncs=(_done); _done() { print -r -- COMPLETION-DONE; }; print -r -- SHELL-""READY'
while zpty -r shell line; do [[ $line == *SHELL-READY* ]] && break; done
zpty -w -n shell "$2"$'\\t'
while zpty -r shell line; do
  [[ $line == *COMPLETION-DONE* ]] && break
  [[ $line == *MATCH:* ]] && print -r -- "\${\${line#*MATCH:}%%$'\\r'*}"
done
zpty -d shell
`;

  async function complete(line: string): Promise<string[]> {
    const harness = join(home, "harness.zsh");
    writeFileSync(harness, HARNESS);
    const matches = await shellOutput(["zsh", "-f", harness, scripts.zsh as string, line]);
    return [...new Set(matches)].sort();
  }

  test("commands, sub-commands and flags", async () => {
    expect(await complete("gotunnel st")).toEqual(COMMANDS_ST);
    expect(await complete("gotunnel doctor ")).toEqual(["routes", "setup", "trust"]);
    expect(await complete("gotunnel start --d")).toEqual(["--debug", "--domain"]);
    expect(await complete("gotunnel c")).toEqual(COMMANDS_C);
    expect(await complete("gotunnel config ")).toEqual(["migrate", "show"]);
    expect(await complete("gotunnel logs --w")).toEqual(["--webhooks"]);
    expect(await complete("gotunnel up --pro")).toEqual(PROFILE_AND_PORTS);
  });

  test("flag values and route names", async () => {
    expect(await complete("gotunnel env --shell ")).toEqual(["bash", "fish", "powershell", "zsh"]);
    expect(await complete("gotunnel up --log-format=")).toEqual(["json", "text"]);
    expect(await complete("gotunnel stop ")).toEqual(ROUTES);
    expect(await complete("gotunnel logs --follow b")).toEqual(["beta.test"]);
  });
});

const fish = requireTools("fish");
describe.skipIf(fish.skip)(fish.title("fish"), () => {
  /** `complete -C`: fish's own completion of a command line; candidates without their descriptions. */
  async function complete(line: string): Promise<string[]> {
    const program = `source $argv[1]; complete -C $argv[2]`;
    const lines = await shellOutput(["fish", "--no-config", "-c", program, scripts.fish as string, line]);
    return lines.map((candidate) => candidate.split("\t")[0] as string).sort();
  }

  test("commands with descriptions, sub-commands and flags", async () => {
    const program = `source $argv[1]; complete -C 'gotunnel sta'`;
    const lines = await shellOutput(["fish", "--no-config", "-c", program, scripts.fish as string]);
    expect(lines).toContain("status\tShow the daemon: pid, ports, admin endpoints, uptime, CA, hosts file, routes");
    expect(await complete("gotunnel st")).toEqual(COMMANDS_ST);
    expect(await complete("gotunnel ca ")).toEqual(["rotate"]);
    expect(await complete("gotunnel start --d")).toEqual(["--debug", "--domain"]);
    expect(await complete("gotunnel c")).toEqual(COMMANDS_C);
    expect(await complete("gotunnel config ")).toEqual(["migrate", "show"]);
    expect(await complete("gotunnel logs --w")).toEqual(["--webhooks"]);
    expect(await complete("gotunnel up --pro")).toEqual(PROFILE_AND_PORTS);
  });

  test("flag values and route names", async () => {
    expect(await complete("gotunnel env --shell ")).toEqual(["bash", "fish", "powershell", "zsh"]);
    expect(await complete("gotunnel stop ")).toEqual(ROUTES);
    expect(await complete("gotunnel logs -n 5 ")).toEqual(ROUTES);
  });
});

const pwsh = requireTools("pwsh");
test.skipIf(pwsh.skip)(pwsh.title("PowerShell: TabExpansion2 completes commands and route names"), async () => {
  const program = (line: string) =>
    `Get-Content -Raw '${scripts.powershell}' | Invoke-Expression; (TabExpansion2 '${line}' ${line.length}).CompletionMatches | ForEach-Object CompletionText`;
  expect((await shellOutput(["pwsh", "-NoProfile", "-Command", program("gotunnel st")])).sort()).toEqual(COMMANDS_ST);
  expect((await shellOutput(["pwsh", "-NoProfile", "-Command", program("gotunnel stop ")])).sort()).toEqual(ROUTES);
});

describe("gotunnel __complete routes", () => {
  test("without a daemon: no names, exit 0, and no daemon started", async () => {
    const empty = scope.dir("empty");
    const result = await runGotunnel(["__complete", "routes"], { cwd: empty, home: empty });
    expect(result).toMatchObject({ exitCode: 0, stdout: "", stderr: "" });
    expect(daemonPid(empty)).toBeUndefined();
  });

  test("is not a command anyone sees: not in help, not completed", async () => {
    expect((await runGotunnel(["help"], { cwd: home, home })).stdout).not.toContain("__complete");
    const program = `source "$1"; COMP_WORDS=(gotunnel __); COMP_CWORD=1; _gotunnel; echo "\${#COMPREPLY[@]}"`;
    const result = await run(["bash", "--norc", "-c", program, "bash", scripts.bash as string], { cwd: home, env });
    expect(result.stdout).toBe("0\n");
  });

  test("answers the routes of the moment (this file's last test: it removes one)", async () => {
    const names = () => runGotunnel(["__complete", "routes"], { cwd: home, home });
    expect((await names()).stdout).toBe("alpha.local\nbeta.test\n");
    expect((await runGotunnel(["stop", "beta.test"], { cwd: home, home })).exitCode).toBe(0);
    expect((await names()).stdout).toBe("alpha.local\n");
  });
});
