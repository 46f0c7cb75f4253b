/** Runs a command to completion with only PATH (plus `env`) inherited, and collects its output. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(argv: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = Bun.spawn(argv, { env: { PATH: process.env.PATH ?? "", ...env }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, stdout, stderr };
}
