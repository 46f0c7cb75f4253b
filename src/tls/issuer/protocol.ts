/**
 * What the daemon and its certificate issuer (`gotunnel __issue-certificates`, child.ts) say to each other: one JSON
 * object per line (NDJSON) each way, requests on the child's stdin, answers on its stdout, matched by `id`. Both sides
 * validate with these schemas; dates travel as ISO 8601 strings.
 *
 * No secret crosses this pipe towards the child: a request names the CA directory, and the child reads the CA files
 * itself (it runs as the same user). Leaf private keys come back on the child's stdout, a pipe only the daemon holds.
 */
import * as v from "valibot";
import type { ErrorCode } from "../../core/errors.ts";
import type { LocalCA } from "../ca.ts";
import type { LeafCertificate } from "../leaf.ts";

export const ISSUER_COMMAND = "__issue-certificates";

const isoDate = v.pipe(v.string(), v.isoTimestamp());

/** Load the CA in caDir; with `create`, make one when neither file exists (the daemon's start, as loadOrCreateCA). */
const caRequest = v.object({ id: v.number(), op: v.literal("ca"), caDir: v.string(), create: v.boolean() });
/**
 * Issue a leaf for `names` at time `now`, signed by the CA in caDir, which must still be the one whose SHA-256
 * fingerprint the daemon serves (`ca`): a CA replaced on disk behind a running daemon must not sign its leaves.
 */
const leafRequest = v.object({
  id: v.number(),
  op: v.literal("leaf"),
  caDir: v.string(),
  ca: v.string(),
  names: v.array(v.string()),
  now: isoDate,
});
export const requestSchema = v.variant("op", [caRequest, leafRequest]);
export type IssuerRequest = v.InferOutput<typeof requestSchema>;

const constraintsSchema = v.object({ dnsSuffixes: v.array(v.string()), ipRanges: v.array(v.string()) });
const caFactsSchema = v.object({
  certPem: v.string(),
  certPath: v.string(),
  keyPath: v.string(),
  subject: v.string(),
  commonName: v.string(),
  notBefore: isoDate,
  notAfter: isoDate,
  serialHex: v.string(),
  fingerprintSha256: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
  nameConstraints: v.optional(constraintsSchema),
});
const leafSchema = v.object({
  names: v.array(v.string()),
  certPem: v.pipe(v.string(), v.startsWith("-----BEGIN CERTIFICATE-----")),
  keyPem: v.pipe(v.string(), v.startsWith("-----BEGIN PRIVATE KEY-----")),
  notBefore: isoDate,
  notAfter: isoDate,
  serialHex: v.string(),
  fingerprintSha256: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
});
/** A GotunnelError as the child saw it; the daemon rebuilds it, so the user gets the child's own message and hint. */
const errorSchema = v.object({
  code: v.string(),
  message: v.string(),
  hint: v.optional(v.string()),
  details: v.optional(v.record(v.string(), v.unknown())),
});
export const answerSchema = v.union([
  v.object({ id: v.number(), ok: v.literal(true), ca: caFactsSchema, created: v.boolean() }),
  v.object({ id: v.number(), ok: v.literal(true), leaf: leafSchema }),
  v.object({ id: v.number(), ok: v.literal(false), error: errorSchema }),
]);
export type IssuerAnswer = v.InferOutput<typeof answerSchema>;
export type WireError = v.InferOutput<typeof errorSchema> & { code: ErrorCode | string };

/** One line of the wire: JSON with the newline that ends it. */
export function encodeLine(message: IssuerRequest | IssuerAnswer): string {
  return `${JSON.stringify(message)}\n`;
}

/** Throws (a plain Error saying what was wrong) on a line that is not valid JSON or not an answer. */
export function parseAnswer(line: string): IssuerAnswer {
  const result = v.safeParse(answerSchema, JSON.parse(line));
  if (!result.success) throw new Error(v.summarize(result.issues));
  return result.output;
}

/** Throws on a line that is not a request. */
export function parseRequest(line: string): IssuerRequest {
  const result = v.safeParse(requestSchema, JSON.parse(line));
  if (!result.success) throw new Error(v.summarize(result.issues));
  return result.output;
}

export function caToWire(ca: LocalCA) {
  return { ...ca, notBefore: ca.notBefore.toISOString(), notAfter: ca.notAfter.toISOString() };
}

export function caFromWire(wire: v.InferOutput<typeof caFactsSchema>): LocalCA {
  return {
    ...wire,
    notBefore: new Date(wire.notBefore),
    notAfter: new Date(wire.notAfter),
    nameConstraints: wire.nameConstraints,
  };
}

export function leafToWire(leaf: LeafCertificate) {
  return { ...leaf, notBefore: leaf.notBefore.toISOString(), notAfter: leaf.notAfter.toISOString() };
}

export function leafFromWire(wire: v.InferOutput<typeof leafSchema>): LeafCertificate {
  return { ...wire, notBefore: new Date(wire.notBefore), notAfter: new Date(wire.notAfter) };
}
