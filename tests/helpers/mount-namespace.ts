/**
 * A private mount namespace that lives for a whole test file: `unshare --mount` runs a setup script (mount a tmpfs,
 * lay an overlay over /etc…) and then sleeps, and every later command enters it with `nsenter --mount`. Nothing
 * mounted in it is visible to this machine, and it all goes away with its last process. The test process reads and
 * writes files in it through `/proc/<holder>/root`, the holder's view of the file system.
 */
import { join } from "node:path";
import type { Subprocess } from "bun";
import { LineCollector, type RunResult, run } from "./e2e.ts";

const SETUP_TIMEOUT_MS = 10_000;
const READY = "gotunnel-mount-namespace-ready";

/** Why mount-namespace tests cannot run here, or undefined when they can. */
export function mountNamespaceSkipReason(tools: string[] = []): string | undefined {
  if (process.platform !== "linux") return "needs Linux mount namespaces";
  if (process.getuid?.() !== 0) return "needs root to create a mount namespace (unshare --mount)";
  const missing = ["unshare", "nsenter", "mount", ...tools].filter((tool) => !Bun.which(tool));
  return missing.length > 0 ? `missing ${missing.join(", ")}` : undefined;
}

export class MountNamespace {
  private constructor(private readonly holder: Subprocess<"ignore", "pipe", "pipe">) {}

  /** Runs `setup` (sh, `set -e`) in a new private mount namespace and keeps the namespace alive afterwards. */
  static async start(setup: string): Promise<MountNamespace> {
    const script = `set -e\n${setup}\necho ${READY}\nexec sleep infinity`;
    const holder = Bun.spawn(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const stdout = new LineCollector(holder.stdout);
    const stderr = new LineCollector(holder.stderr);
    try {
      await stdout.waitFor((line) => line === READY, SETUP_TIMEOUT_MS);
    } catch (error) {
      holder.kill("SIGKILL");
      await stderr.done;
      throw new Error(`the mount namespace setup failed:\n${stderr.text()}`, { cause: error });
    }
    return new MountNamespace(holder);
  }

  /** `path` inside the namespace, as this process can reach it. */
  path(path: string): string {
    return join(`/proc/${this.holder.pid}/root`, path);
  }

  /** Runs `argv` inside the namespace, with only `env` (plus PATH) as its environment. */
  run(argv: string[], options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}) {
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", ...options.env };
    const enter = ["nsenter", "--target", String(this.holder.pid), "--mount", "--"];
    // Not nsenter --wd: it opens that directory before entering, i.e. in this machine's namespace.
    const inDir = options.cwd ? ["sh", "-c", 'cd "$0" && exec "$@"', options.cwd] : [];
    return run([...enter, ...inDir, ...argv], {
      env,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
  }

  /** Like run, for a shell script (`set -e`); positional arguments come after it as $1, $2… */
  sh(script: string, args: string[] = [], env: Record<string, string> = {}): Promise<RunResult> {
    return this.run(["sh", "-c", `set -e\n${script}`, "sh", ...args], { env });
  }

  /** Ends the holder; the namespace goes with the last process in it (stop any daemon started in it first). */
  async stop(): Promise<void> {
    this.holder.kill("SIGKILL");
    await this.holder.exited;
  }
}
