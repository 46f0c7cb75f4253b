/**
 * A test-side OTLP protobuf decoder, written apart from src/ (its own wire reader, its own field tables from the
 * opentelemetry-proto .proto files) so it can judge gotunnel's encoder. It returns the protobuf JSON mapping that
 * OTLP/JSON uses (lowerCamelCase names, ids as hex, 64-bit integers as decimal strings), so one set of assertions
 * serves both encodings. tests/unit/otlp-proto.test.ts checks it against the official JavaScript serializer.
 */

type Scalar = "string" | "hex" | "varint" | "int64" | "fixed64" | "sfixed64" | "fixed32" | "double" | "bool";
/** field number → [JSON name, type, repeated]; a type that is a function is an embedded message. */
type Schema = Record<number, [string, Scalar | (() => Schema), boolean?]>;

const anyValue = (): Schema => ({
  1: ["stringValue", "string"],
  2: ["boolValue", "bool"],
  3: ["intValue", "int64"],
  4: ["doubleValue", "double"],
  5: ["arrayValue", () => ({ 1: ["values", anyValue, true] })],
  6: ["kvlistValue", () => ({ 1: ["values", keyValue, true] })],
  7: ["bytesValue", "hex"],
});
const keyValue = (): Schema => ({ 1: ["key", "string"], 2: ["value", anyValue] });
const resource = (): Schema => ({ 1: ["attributes", keyValue, true], 2: ["droppedAttributesCount", "varint"] });
const scope = (): Schema => ({
  1: ["name", "string"],
  2: ["version", "string"],
  3: ["attributes", keyValue, true],
  4: ["droppedAttributesCount", "varint"],
});

const span = (): Schema => ({
  1: ["traceId", "hex"],
  2: ["spanId", "hex"],
  3: ["traceState", "string"],
  4: ["parentSpanId", "hex"],
  16: ["flags", "fixed32"],
  5: ["name", "string"],
  6: ["kind", "varint"],
  7: ["startTimeUnixNano", "fixed64"],
  8: ["endTimeUnixNano", "fixed64"],
  9: ["attributes", keyValue, true],
  10: ["droppedAttributesCount", "varint"],
  12: ["droppedEventsCount", "varint"],
  14: ["droppedLinksCount", "varint"],
  15: ["status", () => ({ 2: ["message", "string"], 3: ["code", "varint"] })],
});

const traceRequest = (): Schema => ({
  1: [
    "resourceSpans",
    () => ({
      1: ["resource", resource],
      2: ["scopeSpans", () => ({ 1: ["scope", scope], 2: ["spans", span, true], 3: ["schemaUrl", "string"] }), true],
      3: ["schemaUrl", "string"],
    }),
    true,
  ],
});

const numberPoint = (): Schema => ({
  7: ["attributes", keyValue, true],
  2: ["startTimeUnixNano", "fixed64"],
  3: ["timeUnixNano", "fixed64"],
  4: ["asDouble", "double"],
  6: ["asInt", "sfixed64"],
  8: ["flags", "varint"],
});
const histogramPoint = (): Schema => ({
  9: ["attributes", keyValue, true],
  2: ["startTimeUnixNano", "fixed64"],
  3: ["timeUnixNano", "fixed64"],
  4: ["count", "fixed64"],
  5: ["sum", "double"],
  6: ["bucketCounts", "fixed64", true],
  7: ["explicitBounds", "double", true],
  10: ["flags", "varint"],
  11: ["min", "double"],
  12: ["max", "double"],
});
const metric = (): Schema => ({
  1: ["name", "string"],
  2: ["description", "string"],
  3: ["unit", "string"],
  5: ["gauge", () => ({ 1: ["dataPoints", numberPoint, true] })],
  7: [
    "sum",
    () => ({
      1: ["dataPoints", numberPoint, true],
      2: ["aggregationTemporality", "varint"],
      3: ["isMonotonic", "bool"],
    }),
  ],
  9: ["histogram", () => ({ 1: ["dataPoints", histogramPoint, true], 2: ["aggregationTemporality", "varint"] })],
});
const metricsRequest = (): Schema => ({
  1: [
    "resourceMetrics",
    () => ({
      1: ["resource", resource],
      2: ["scopeMetrics", () => ({ 1: ["scope", scope], 2: ["metrics", metric, true] }), true],
    }),
    true,
  ],
});

class Reader {
  at = 0;
  constructor(private readonly bytes: Uint8Array) {}

  done(): boolean {
    return this.at >= this.bytes.length;
  }

  varint(): bigint {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = this.take(1)[0] as number;
      value |= BigInt(byte & 127) << shift;
      if (byte < 128) return value;
      if (shift > 63n) throw new Error("varint longer than 10 bytes");
    }
  }

  take(n: number): Uint8Array {
    if (this.at + n > this.bytes.length) throw new Error(`truncated at byte ${this.at} (wanted ${n})`);
    this.at += n;
    return this.bytes.subarray(this.at - n, this.at);
  }
}

const WIRE: Record<Scalar | "message", number> = {
  string: 2,
  hex: 2,
  varint: 0,
  int64: 0,
  bool: 0,
  fixed64: 1,
  sfixed64: 1,
  double: 1,
  fixed32: 5,
  message: 2,
};

function scalar(type: Scalar, reader: Reader, wire: number): unknown {
  const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case "string":
      return new TextDecoder("utf-8", { fatal: true }).decode(reader.take(Number(reader.varint())));
    case "hex":
      return Buffer.from(reader.take(Number(reader.varint()))).toString("hex");
    case "varint":
      return Number(reader.varint());
    case "bool":
      return reader.varint() !== 0n;
    case "int64":
      return BigInt.asIntN(64, reader.varint()).toString();
    case "fixed64":
      return view(reader.take(8)).getBigUint64(0, true).toString();
    case "sfixed64":
      return view(reader.take(8)).getBigInt64(0, true).toString();
    case "double":
      return view(reader.take(8)).getFloat64(0, true);
    case "fixed32":
      return view(reader.take(4)).getUint32(0, true);
  }
  throw new Error(`unknown type ${type} (wire ${wire})`);
}

function skip(reader: Reader, wire: number): void {
  if (wire === 0) reader.varint();
  else if (wire === 1) reader.take(8);
  else if (wire === 2) reader.take(Number(reader.varint()));
  else if (wire === 5) reader.take(4);
  else throw new Error(`wire type ${wire} is not used by OTLP`);
}

function message(bytes: Uint8Array, schema: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const reader = new Reader(bytes);
  while (!reader.done()) {
    const key = reader.varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    const entry = schema[field];
    if (!entry) {
      skip(reader, wire);
      continue;
    }
    const [name, type, repeated] = entry;
    const values: unknown[] = [];
    if (typeof type === "function") {
      if (wire !== 2) throw new Error(`${name}: wire type ${wire}, expected 2`);
      values.push(message(reader.take(Number(reader.varint())), type()));
    } else if (repeated && wire === 2 && WIRE[type] !== 2) {
      // A packed repeated scalar: one length-delimited run of values.
      const packed = new Reader(reader.take(Number(reader.varint())));
      while (!packed.done()) values.push(scalar(type, packed, WIRE[type]));
    } else {
      if (wire !== WIRE[type]) throw new Error(`${name}: wire type ${wire}, expected ${WIRE[type]}`);
      values.push(scalar(type, reader, wire));
    }
    if (repeated) out[name] = [...((out[name] as unknown[] | undefined) ?? []), ...values];
    else out[name] = values[0];
  }
  return out;
}

export function decodeTraceRequest(bytes: Uint8Array): Record<string, unknown> {
  return message(bytes, traceRequest());
}

export function decodeMetricsRequest(bytes: Uint8Array): Record<string, unknown> {
  return message(bytes, metricsRequest());
}

/**
 * Drops what proto3 leaves implicit (0, "", false, empty messages and lists), so a protobuf body and a JSON body of
 * the same request compare equal however each writer treats default values.
 */
export function withoutDefaults(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutDefaults);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    const cleaned = withoutDefaults(inner);
    const empty =
      cleaned === 0 ||
      cleaned === "0" ||
      cleaned === "" ||
      cleaned === false ||
      (Array.isArray(cleaned) && cleaned.length === 0) ||
      (typeof cleaned === "object" && cleaned !== null && !Array.isArray(cleaned) && Object.keys(cleaned).length === 0);
    if (!empty) out[key] = cleaned;
  }
  return out;
}

/** A received OTLP body as its JSON mapping, whichever encoding it came in (by Content-Type), gunzipped if needed. */
export function otlpBody(
  req: Request,
  raw: Uint8Array<ArrayBuffer>,
  decode: (bytes: Uint8Array) => unknown = decodeTraceRequest,
): unknown {
  const bytes = req.headers.get("content-encoding") === "gzip" ? Bun.gunzipSync(raw) : raw;
  const type = req.headers.get("content-type") ?? "";
  if (type.startsWith("application/x-protobuf")) return decode(bytes);
  if (type.startsWith("application/json")) return JSON.parse(new TextDecoder().decode(bytes));
  throw new Error(`unexpected OTLP content-type ${type}`);
}
