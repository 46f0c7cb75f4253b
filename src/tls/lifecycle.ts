/**
 * The CA's lifecycle on disk: how long it has left, and rotation to a new one. Trust-store changes that go with a
 * rotation live in truststore/index.ts (retrust); this module only moves and creates files.
 */
import { existsSync } from "node:fs";
import { rename } from "node:fs/promises";
import { caCertPath, caKeyPath, type LocalCA, loadCA, loadOrCreateCA } from "./ca.ts";

export { CA_EXPIRY_WARNING_DAYS, type CaHealth, caHealth } from "./expiry.ts";

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
  /** For progress, as in loadOrCreateCA. */
  onStep?: (label: string) => void;
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
    const { ca } = await loadOrCreateCA(caDir, { now, suffixes: options.suffixes ?? [], onStep: options.onStep });
    return { ca, previous: undefined, movedTo: undefined };
  }
  const movedTo = freeSibling(`${caDir}.old-${now.toISOString().slice(0, 19).replaceAll(":", "-")}Z`);
  await rename(caDir, movedTo);
  const suffixes = [...(previous.nameConstraints?.dnsSuffixes ?? []), ...(options.suffixes ?? [])];
  try {
    const { ca } = await loadOrCreateCA(caDir, { now, suffixes, onStep: options.onStep });
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
