/** Durations as users type them: "60s", "1500ms", "2m", or a plain number of seconds. */

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m)?$/;
const MS_PER_UNIT = { ms: 1, s: 1000, m: 60_000 } as const;

/** Milliseconds, or undefined when `text` is not a duration (the caller names the flag or variable). */
export function parseDurationMs(text: string): number | undefined {
  const match = DURATION_RE.exec(text.trim());
  if (!match) return undefined;
  const unit = (match[2] ?? "s") as keyof typeof MS_PER_UNIT;
  return Number(match[1]) * MS_PER_UNIT[unit];
}
