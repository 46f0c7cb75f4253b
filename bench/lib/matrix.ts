/**
 * The measured cells: protocol × body size × load shape. Each target runs the same list, in the same order.
 * HTTP and HTTPS cells are HTTP/1.1 (wrk offers no ALPN); the h2 cell is HTTPS with h2 chosen by ALPN (h2load).
 */

export type Proto = "http" | "https" | "h2";
/** The listener a protocol is served on: h2 shares the HTTPS port (ALPN). */
export type Scheme = "http" | "https";

export function schemeOf(proto: Proto): Scheme {
  return proto === "http" ? "http" : "https";
}
export type BodySize = "1k" | "1m";

export interface Load {
  /** Short label used in the table and the JSON. */
  label: string;
  connections: number;
  /** New TCP (and TLS) connection per request: wrk sends `Connection: close` and reconnects. */
  close: boolean;
  /** h2 only: concurrent streams on each connection (h2load -m). */
  streams?: number;
}

export interface Cell {
  proto: Proto;
  size: BodySize;
  load: Load;
}

export const BODY_BYTES: Record<BodySize, number> = { "1k": 1024, "1m": 1024 * 1024 };
export const BODY_LABEL: Record<BodySize, string> = { "1k": "1 KiB", "1m": "1 MiB" };

const KEEP_ALIVE_LOADS: Load[] = [
  { label: "ka c=1", connections: 1, close: false },
  { label: "ka c=50", connections: 50, close: false },
  { label: "ka c=500", connections: 500, close: false },
];
// 50 clients opening a fresh connection per request: enough to keep every core busy with handshakes,
// few enough that loopback ephemeral ports (reused via tcp_tw_reuse) do not run out within a cell.
const NEW_CONNECTION_LOAD: Load = { label: "new conn c=50", connections: 50, close: true };
// A browser's view of h2: few connections, many requests in flight on each (issue 16: 50 × 10 streams).
const H2_LOAD: Load = { label: "c=50 ×10 streams", connections: 50, close: false, streams: 10 };

export function buildCells(quick: boolean): Cell[] {
  const sizes: BodySize[] = quick ? ["1k"] : ["1k", "1m"];
  const cells: Cell[] = [];
  for (const proto of ["http", "https"] as const) {
    // --quick keeps c=1 (the latency tail) and c=500 (the memory peak) over HTTPS only: issue 18's bounds.
    const keepAlive = quick && proto === "http" ? [KEEP_ALIVE_LOADS[1] as Load] : KEEP_ALIVE_LOADS;
    for (const size of sizes) {
      for (const load of [...keepAlive, NEW_CONNECTION_LOAD]) cells.push({ proto, size, load });
    }
  }
  cells.push({ proto: "h2", size: "1k", load: H2_LOAD });
  return cells;
}

/** Identifies a scenario across targets (results carry the load's label, not the Load object). */
export function cellKey(proto: Proto, size: BodySize, loadLabel: string): string {
  return `${proto}|${size}|${loadLabel}`;
}
