/**
 * Certificates for names the proxy serves no route for: a route that was removed, or a name in the CA's scope that a
 * client asked for (daemon/on-demand.ts). The store serves them after the routes' entries, so a browser tab still on
 * a removed name gets gotunnel's "no such route" page over a certificate that matches its name, instead of the
 * default certificate and a name-mismatch error (Bun.serve answers an unknown SNI with its first entry, DESIGN.md).
 *
 * Bounded: each entry is one more SSL_CTX in every listener Bun.serve builds, so the oldest goes first.
 */
import type { LeafCertificate } from "./leaf.ts";

/** At most this many spare certificates are kept; the least recently added is dropped first. */
export const MAX_SPARE_CERTIFICATES = 100;

export class SpareLeaves {
  /** Map order is insertion order: the first key is the oldest. */
  readonly #leaves = new Map<string, Promise<LeafCertificate>>();

  constructor(readonly max = MAX_SPARE_CERTIFICATES) {}

  get size(): number {
    return this.#leaves.size;
  }

  has(key: string): boolean {
    return this.#leaves.has(key);
  }

  get(key: string): Promise<LeafCertificate> | undefined {
    return this.#leaves.get(key);
  }

  /** Adds (or refreshes) `key`, dropping the oldest entries past the bound. */
  add(key: string, leaf: Promise<LeafCertificate>): void {
    this.#leaves.delete(key);
    this.#leaves.set(key, leaf);
    for (const oldest of this.#leaves.keys()) {
      if (this.#leaves.size <= this.max) break;
      this.#leaves.delete(oldest);
    }
  }

  /** Removes `key` and returns its leaf: the name is a route again, whose entry the store serves first. */
  take(key: string): Promise<LeafCertificate> | undefined {
    const leaf = this.#leaves.get(key);
    this.#leaves.delete(key);
    return leaf;
  }

  /**
   * The leaves `usable` accepts, newest first. A leaf that failed to issue or is no longer usable (due for renewal:
   * spares are not renewed, a name asked for again is issued afresh) is dropped.
   */
  async usable(usable: (leaf: LeafCertificate) => boolean): Promise<LeafCertificate[]> {
    const pairs = [...this.#leaves].reverse();
    const settled = await Promise.allSettled(pairs.map(([, leaf]) => leaf));
    const kept: LeafCertificate[] = [];
    settled.forEach((result, index) => {
      const [key, leaf] = pairs[index] ?? [];
      if (result.status === "fulfilled" && usable(result.value)) kept.push(result.value);
      // Only the leaf we looked at: the name may have been added again meanwhile.
      else if (key !== undefined && this.#leaves.get(key) === leaf) this.#leaves.delete(key);
    });
    return kept;
  }
}
