/**
 * A CommandRunner that records every argv and answers from a script: the seam tests use to assert the exact
 * commands a platform module runs (systemctl, launchctl, schtasks, sudo setcap) without running any of them.
 */
import type { CommandRunner, RunOptions, RunResult } from "../../src/platform/runner.ts";

export type Answer = Partial<RunResult> | undefined;

export interface ScriptedRunner extends CommandRunner {
  calls: { argv: string[]; env?: Record<string, string> }[];
  /** The recorded argv, each joined with spaces. */
  lines(): string[];
}

/** `answer` sees each argv; undefined (or a partial result) means exit 0 with empty output. */
export function scriptedRunner(answer: (argv: string[]) => Answer = () => undefined): ScriptedRunner {
  const calls: ScriptedRunner["calls"] = [];
  return {
    calls,
    lines: () => calls.map((call) => call.argv.join(" ")),
    which: (program) => `/usr/bin/${program}`,
    async run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
      calls.push(options.env ? { argv, env: options.env } : { argv });
      return { code: 0, stdout: "", stderr: "", ...answer(argv) };
    },
  };
}
