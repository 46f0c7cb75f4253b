/**
 * Build facts. `scripts/build.ts` replaces the GOTUNNEL_BUILD_* globals with literals via `--define`;
 * running from source they are absent and we report "dev".
 */
declare const GOTUNNEL_BUILD_VERSION: string | undefined;
declare const GOTUNNEL_BUILD_COMMIT: string | undefined;
declare const GOTUNNEL_BUILD_DATE: string | undefined;

export interface BuildInfo {
  version: string;
  commit: string;
  date: string;
  bun: string;
  platform: string;
}

function defined(read: () => string | undefined, fallback: string): string {
  try {
    return read() ?? fallback;
  } catch {
    // ReferenceError: the global was not defined at build time (running from source).
    return fallback;
  }
}

export function buildInfo(): BuildInfo {
  return {
    version: defined(() => GOTUNNEL_BUILD_VERSION, "0.0.0-dev"),
    commit: defined(() => GOTUNNEL_BUILD_COMMIT, "dev"),
    date: defined(() => GOTUNNEL_BUILD_DATE, "unknown"),
    bun: Bun.version,
    platform: `${process.platform}-${process.arch}`,
  };
}
