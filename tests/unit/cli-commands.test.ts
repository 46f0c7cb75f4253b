/**
 * The command definitions as help, the command-line check and completions read them (src/cli/command.ts,
 * completion/spec.ts), and the did-you-mean for commands (core/suggest.ts).
 */
import { describe, expect, test } from "bun:test";
import { command, commandLine } from "../../src/cli/command.ts";
import { main } from "../../src/cli/commands.ts";
import { completionScript } from "../../src/cli/completion/index.ts";
import { completionSpec } from "../../src/cli/completion/spec.ts";
import { suggestCommand } from "../../src/core/suggest.ts";

const COMMANDS = ["up", "start", "down", "stop", "stop-all", "list", "status", "logs", "help"];

describe("suggestCommand", () => {
  test("a word that starts exactly one command is that command, ahead of a closer edit", () => {
    expect(suggestCommand("stat", COMMANDS)).toBe("status");
    expect(suggestCommand("stop-a", COMMANDS)).toBe("stop-all");
  });

  test("otherwise the closest by edit distance, or nothing when none is plausible", () => {
    expect(suggestCommand("lgos", COMMANDS)).toBe("logs");
    expect(suggestCommand("st", COMMANDS)).toBeUndefined();
    expect(suggestCommand("frobnicate", COMMANDS)).toBeUndefined();
  });
});

describe("commandLine", () => {
  test("follows sub-commands past flags and their values, and stops at --", async () => {
    const segments = await commandLine(main, ["ca", "--json", "rotate", "--allow-suffix", ".dev"]);
    expect(segments.map((segment) => segment.path.join(" "))).toEqual(["", "ca", "ca rotate"]);
    expect(segments.at(-1)?.words).toEqual(["--allow-suffix", ".dev"]);
    const run = await commandLine(main, ["run", "--", "stat"]);
    expect(run.at(-1)?.words).toEqual(["--", "stat"]);
  });

  test("loads only the command it names, and the others only to suggest one for an unknown name", async () => {
    const loaded: string[] = [];
    const lazy = (name: string) => async () => {
      loaded.push(name);
      return command({ meta: { name, description: name, examples: [] } });
    };
    const tree = command({
      meta: { name: "gotunnel", description: "test tree", examples: [] },
      subCommands: { up: lazy("up"), daemon: lazy("daemon"), service: lazy("service") },
    });
    const segments = await commandLine(tree, ["up", "--json"]);
    expect(segments.at(-1)?.path).toEqual(["up"]);
    expect(loaded).toEqual(["up"]);
    // A name that is no sub-command, or an Object.prototype key, is unknown.
    for (const word of ["uq", "constructor"]) {
      const error = await commandLine(tree, [word]).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: "E_USAGE" });
    }
    expect(loaded.toSorted()).toEqual(["daemon", "daemon", "service", "service", "up", "up", "up"]);
  });

  test("an unknown sub-command is E_USAGE with the likely one", async () => {
    const error = await commandLine(main, ["doctor", "rotues"]).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "E_USAGE", hint: "did you mean `gotunnel doctor routes`?" });
  });
});

describe("completionSpec", () => {
  test("every command path, with flags, negations, values and positional completions", async () => {
    const specs = await completionSpec(main);
    const at = (path: string) => specs.find((spec) => spec.path === path);
    expect(specs.map((spec) => spec.path)).toContain("ca rotate");
    const start = at("start");
    expect(start?.flags.map((flag) => flag.long)).toContain("--no-https");
    expect(start?.flags.find((flag) => flag.long === "--domain")).toMatchObject({ short: "-d", value: "text" });
    expect(at("env")?.flags.find((flag) => flag.long === "--shell")?.value).toEqual([
      "bash",
      "zsh",
      "fish",
      "powershell",
    ]);
    expect(at("up")?.flags.find((flag) => flag.long === "--config")?.value).toBe("file");
    expect(at("stop")?.positionals).toEqual(["routes"]);
    expect(at("up")?.positionals).toEqual([undefined]);
    expect(at("")?.subCommands.map((sub) => sub.name)).toContain("completion");
  });
});

describe("the PowerShell script (no pwsh on Debian to run it)", () => {
  test("a command with one sub-command keeps it as a hashtable, which PowerShell never unrolls", async () => {
    const script = await completionScript("powershell", main, "0.0.0");
    expect(script).toContain("    'ca' = @{\n        Sub = @(@{ N = 'rotate'; D = ");
    expect(script).toContain("Register-ArgumentCompleter -Native -CommandName gotunnel");
    expect(script).toContain("'stop' = @{");
    expect(script).toMatch(/'stop' = @\{\n {8}Sub = @\(\)\n {8}Flags = @\(.*\)\n {8}Positional = @\('routes'\)/);
    // A quote in a description is doubled, not ended.
    expect(script).toContain("'Remove this project''s routes from the daemon'");
  });
});
