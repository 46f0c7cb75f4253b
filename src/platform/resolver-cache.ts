/**
 * The one place that chooses what to do after the hosts file changed, per OS. Only macOS needs a step: its resolver
 * caches answers, /etc/hosts ones included (platform/darwin.ts). Linux's glibc reads /etc/hosts on every lookup, and
 * systemd-resolved and nscd watch it; Windows' DNS Client service reloads the hosts file when it changes.
 */
import { flushDarwinResolverCache } from "./darwin.ts";
import { type CommandRunner, systemRunner } from "./runner.ts";

/** Flushes this OS's resolver cache when it keeps one. Resolves with warnings for the log; never throws. */
export function flushResolverCache(
  platform: NodeJS.Platform = process.platform,
  runner: CommandRunner = systemRunner,
): Promise<string[]> {
  return platform === "darwin" ? flushDarwinResolverCache(runner) : Promise.resolve([]);
}
