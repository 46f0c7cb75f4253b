/**
 * A test that drives a system program (wrk, certutil, promtool, …) runs only where the program is installed, and is
 * otherwise skipped with the reason in its title, so bun test's `(skip)` line and the summary of scripts/test.ts say
 * what to install. scripts/test.ts installs them first when it can (root with apt-get; scripts/system-deps.ts).
 *
 *   const wrk = requireTools("wrk");
 *   describe.skipIf(wrk.skip)(wrk.title("500 concurrent clients"), () => { … });
 */
import { packageOf } from "../../scripts/system-deps.ts";

export interface Requirement {
  skip: boolean;
  /** Why the test is skipped; undefined when it runs. */
  reason: string | undefined;
  /** `name`, with " (skipped: <reason>)" appended when skipped. */
  title(name: string): string;
}

export function requirement(reason: string | undefined): Requirement {
  return {
    skip: reason !== undefined,
    reason,
    title: (name) => (reason === undefined ? name : `${name} (skipped: ${reason})`),
  };
}

/** Skips unless every tool is on PATH; the reason names the missing ones and the apt package of each. */
export function requireTools(...tools: string[]): Requirement {
  const missing = tools.filter((tool) => Bun.which(tool) === null);
  if (missing.length === 0) return requirement(undefined);
  const packages = [...new Set(missing.map((tool) => packageOf(tool) ?? `<package with ${tool}>`))];
  return requirement(`needs ${missing.join(", ")}: apt-get install ${packages.join(" ")}`);
}

/** Skips unless this process is root (user switches, mount namespaces). */
export function requireRoot(why: string): Requirement {
  return requirement(process.getuid?.() === 0 ? undefined : `needs root to ${why}`);
}

/** The first requirement that skips, else one that runs. */
export function requireAll(...requirements: Requirement[]): Requirement {
  return requirements.find((item) => item.skip) ?? requirement(undefined);
}
