/**
 * The dashboard's trust panel: for each trust store on this machine (tls/truststore), whether gotunnel's CA is in
 * it, or why the store cannot be checked. Checking runs the stores' tools (certutil, …), so the answer is kept for
 * a while and computed only when the page asks.
 */
import type { LocalCA } from "../../tls/ca.ts";

export interface StoreRow {
  id: string;
  name: string;
  /** "trusted" | "not trusted" | "unavailable" (the store or its tool is missing: `reason` says which). */
  state: "trusted" | "not-trusted" | "unavailable";
  reason?: string;
}

/** Stores change when the user runs `gotunnel trust`; a page reload after that should show it soon. */
const TRUST_CACHE_MS = 10_000;

export function trustStatus(ca: LocalCA): () => Promise<StoreRow[]> {
  let cached: { at: number; rows: Promise<StoreRow[]> } | undefined;
  return () => {
    if (!cached || Date.now() - cached.at > TRUST_CACHE_MS) cached = { at: Date.now(), rows: checkStores(ca) };
    return cached.rows;
  };
}

async function checkStores(ca: LocalCA): Promise<StoreRow[]> {
  const { trustStores } = await import("../../tls/truststore/index.ts");
  return Promise.all(
    trustStores().map(async (store): Promise<StoreRow> => {
      const available = await store.detect();
      if (!available.ok) return { id: store.id, name: store.name, state: "unavailable", reason: available.reason };
      try {
        const trusted = await store.isTrusted(ca);
        return { id: store.id, name: store.name, state: trusted ? "trusted" : "not-trusted" };
      } catch (error) {
        return { id: store.id, name: store.name, state: "unavailable", reason: String(error) };
      }
    }),
  );
}
