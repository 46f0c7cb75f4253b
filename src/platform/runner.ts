/**
 * The command-runner seam: every command gotunnel runs to change (or inspect) the OS goes through a CommandRunner, so
 * tests replace it and assert the exact argv instead of touching the machine's trust stores.
 */

export interface RunResult {
  /** Exit code; 127 when the program could not be started (as shells report a missing command). */
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the child's stdin, then stdin is closed (e.g. `sudo tee <file>`). */
  input?: string;
  /** Extra variables on top of this process's environment. */
  env?: Record<string, string>;
}

export interface CommandRunner {
  run(argv: string[], options?: RunOptions): Promise<RunResult>;
  /** Absolute path of a program on PATH, or undefined. */
  which(program: string): string | undefined;
}

/** Exit code shells use for "command not found" (POSIX 2.8.2). */
export const COMMAND_NOT_FOUND = 127;

/** The real runner: Bun.spawn, both streams captured, nothing inherited except the environment. */
export const systemRunner: CommandRunner = {
  async run(argv, options = {}) {
    let child: ReturnType<typeof Bun.spawn<"pipe", "pipe", "pipe">>;
    try {
      child = Bun.spawn(argv, {
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
        env: options.env ? { ...process.env, ...options.env } : process.env,
      });
    } catch (error) {
      // Spawn fails synchronously when the program does not exist: report it like a shell would.
      return { code: COMMAND_NOT_FOUND, stdout: "", stderr: `${argv[0]}: ${(error as Error).message}` };
    }
    if (options.input !== undefined) child.stdin.write(options.input);
    await child.stdin.end();
    const [stdout, stderr, code] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    return { code, stdout, stderr };
  },
  which(program) {
    return Bun.which(program) ?? undefined;
  },
};

/** `a b 'c d'`: an argv as a user could paste it into a POSIX shell, for messages and hints. */
export function formatCommand(argv: string[]): string {
  return argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`)).join(" ");
}
