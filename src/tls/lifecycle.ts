/**
 * The CA's lifecycle on disk: how long it has left, and rotation to a new one. Trust-store changes that go with a
 * rotation live in truststore/index.ts (retrust); this module only moves and creates files.
 */
import { existsSync } from "node:fs";
import { rename } from "node:fs/promises";
import { caCertPath, caKeyPath, DAY_MS, type LocalCA, loadCA, loadOrCreateCA } from "./ca.ts";

/** Warn this many days before the CA expires: re-trusting a new CA is work the user should plan for. */
export const CA_EXPIRY_WARNING_DAYS = 30;

export interface CaHealth {
  /** Whole days until notAfter; negative once expired. */
  daysLeft: number;
  /** Set under CA_EXPIRY_WARNING_DAYS, with the command that fixes it. */
  warning?: string;
}

export function caHealth(ca: LocalCA, now: Date = new Date()): CaHealth {
  const daysLeft = Math.floor((ca.notAfter.getTime() - now.getTime()) / DAY_MS);
  if (daysLeft >= CA_EXPIRY_WARNING_DAYS) return { daysLeft };
  const when = daysLeft < 0 ? "expired" : `expires in ${daysLeft} day(s)`;
  return {
    daysLeft,
    warning:
      `gotunnel's CA ${when} (${ca.notAfter.toISOString().slice(0, 10)}). Run \`gotunnel ca rotate\`: it makes a ` +
      "new CA, trusts it wherever the old one was trusted, and untrusts the old one.",
  };
}

export interface RotatedCA {
  ca: LocalCA;
  /** The CA that was replaced, with its paths inside movedTo; undefined when there was none. */
  previous: LocalCA | undefined;
  movedTo: string | undefined;
}

export interface RotateOptions {
  now?: Date;
  /** Suffixes to add (`--allow-suffix .dev`); the ones the old CA was limited to are kept. */
  suffixes?: readonly string[];
}

/**
 * Replaces the CA in caDir: the old directory is moved aside to `<caDir>.old-<UTC time>` (never deleted, so nothing
 * the user may still need is lost) and a new, name-constrained CA is created in caDir. A CA that already expired can
 * be rotated too. If creating the new CA fails, the old directory is moved back.
 */
export async function rotateCA(caDir: string, options: RotateOptions = {}): Promise<RotatedCA> {
  const now = options.now ?? new Date();
  const previous = await loadCA(caDir, { now, allowExpired: true });
  if (!previous) {
    const { ca } = await loadOrCreateCA(caDir, { now, suffixes: options.suffixes ?? [] });
    return { ca, previous: undefined, movedTo: undefined };
  }
  const movedTo = freeSibling(`${caDir}.old-${now.toISOString().slice(0, 19).replaceAll(":", "-")}Z`);
  await rename(caDir, movedTo);
  const suffixes = [...(previous.nameConstraints?.dnsSuffixes ?? []), ...(options.suffixes ?? [])];
  try {
    const { ca } = await loadOrCreateCA(caDir, { now, suffixes });
    const moved = { ...previous, certPath: caCertPath(movedTo), keyPath: caKeyPath(movedTo) };
    return { ca, previous: moved, movedTo };
  } catch (error) {
    await rename(movedTo, caDir);
    throw error;
  }
}

/** `base`, or `base-2`, `base-3`… when two rotations land in the same second. */
function freeSibling(base: string): string {
  let candidate = base;
  for (let n = 2; existsSync(candidate); n++) candidate = `${base}-${n}`;
  return candidate;
}
