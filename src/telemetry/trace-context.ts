/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) for the proxy: parse the client's `traceparent`, format
 * ours for the upstream, make ids, and decide sampling. Pure and allocation-light: it runs once per traced request.
 */

export interface ParentContext {
  /** 32 lowercase hex digits, not all zero. */
  traceId: string;
  /** 16 lowercase hex digits, not all zero. */
  spanId: string;
  /** The `sampled` flag (bit 0 of trace-flags): the caller recorded its span. */
  sampled: boolean;
}

const TRACEPARENT_LENGTH = 55;
const ZERO_TRACE_ID = "0".repeat(32);
const ZERO_SPAN_ID = "0".repeat(16);
/** Version 00's exact shape; lowercase only (§3.2.2.1: "vendors MUST ignore" uppercase). */
const TRACEPARENT_00 = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The client's span, or undefined when the header is missing or invalid (then the request starts a new trace, as
 * §4.3 asks). Only version 00 is understood; a future version is also read by its first 55 characters (§4.3,
 * "higher version"), but version ff is invalid.
 */
export function parseTraceparent(header: string | null | undefined): ParentContext | undefined {
  if (!header) return undefined;
  const value = header.trim();
  const head = value.startsWith("00-") ? value : future(value);
  const match = head === undefined ? null : TRACEPARENT_00.exec(head);
  if (!match) return undefined;
  const [, traceId = "", spanId = "", flags = "00"] = match;
  if (traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) return undefined;
  return { traceId, spanId, sampled: (Number.parseInt(flags, 16) & 1) === 1 };
}

/** A higher version's first four fields, rewritten as version 00 for the one regex; ff is never valid. */
function future(value: string): string | undefined {
  const version = value.slice(0, 2);
  if (!/^[0-9a-f]{2}$/.test(version) || version === "ff") return undefined;
  if (value.length > TRACEPARENT_LENGTH && value[TRACEPARENT_LENGTH] !== "-") return undefined;
  return `00${value.slice(2, TRACEPARENT_LENGTH)}`;
}

export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? "01" : "00"}`;
}

/**
 * Parent-based sampling with a ratio for roots (the OTel `parentbased_traceidratio` sampler): a caller's decision is
 * honoured both ways, so one trace is never half recorded; a request without one is sampled with probability `ratio`.
 */
export function isSampled(parent: ParentContext | undefined, ratio: number, random: () => number = Math.random) {
  if (parent) return parent.sampled;
  return ratio >= 1 || (ratio > 0 && random() < ratio);
}

/**
 * Random hex drawn from the CSPRNG in blocks (one getRandomValues call per 512 span ids, not one per id) and cut
 * from one flat string: ids built by concatenation would be ropes, which JSON and header serialization flatten again.
 */
const POOL_BYTES = 4096;
let pool = "";
let poolAt = 0;

function randomHex(bytes: number): string {
  const chars = bytes * 2;
  if (poolAt + chars > pool.length) {
    pool = Buffer.from(crypto.getRandomValues(new Uint8Array(POOL_BYTES))).toString("hex");
    poolAt = 0;
  }
  poolAt += chars;
  return pool.slice(poolAt - chars, poolAt);
}

/** 16 random bytes as hex; all-zero is invalid (§3.2.2.3), so retry on the 2^-128 chance. */
export function newTraceId(): string {
  const id = randomHex(16);
  return id === ZERO_TRACE_ID ? newTraceId() : id;
}

export function newSpanId(): string {
  const id = randomHex(8);
  return id === ZERO_SPAN_ID ? newSpanId() : id;
}
