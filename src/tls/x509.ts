/**
 * Builds and parses gotunnel's certificates: the CA's self-signed root and the routes' leaves (RFC 5280 profile),
 * ECDSA P-256 signed through WebCrypto, DER written by hand (der.ts). Nothing here touches the file system.
 * Callers get plain strings, Dates, ArrayBuffers and WebCrypto CryptoKeys.
 *
 * Written by hand rather than with @peculiar/x509: that library and its asn1 schemas made the daemon, which issues a
 * leaf per route and runs all day, about 25 MiB larger (issue 18); tests/unit/tls.test.ts still reads every
 * certificate made here with @peculiar/x509 and OpenSSL.
 */
import type { webcrypto } from "node:crypto";
import { ipBytes, NAME_CONSTRAINTS_OID } from "./constraints.ts";
import {
  children,
  decodeOid,
  decodeTime,
  explicitTag,
  implicitTag,
  oid,
  pem,
  pemBlocks,
  readTlv,
  sequence,
  TAG,
  type Tlv,
  time,
  tlv,
  unsignedInteger,
} from "./der.ts";

/** ECDSA P-256: accepted by every browser and TLS stack, and a key pair costs well under a millisecond. */
export const EC_KEY_ALGORITHM: webcrypto.EcKeyImportParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
/** RFC 5280 §4.1.2.2: serials are positive and at most 20 octets; 16 random bytes (+1 sign octet) fit. */
const SERIAL_BYTES = 16;
/** RFC 5280 Appendix A, ub-common-name: a CN longer than 64 characters is invalid DER for strict parsers. */
export const MAX_COMMON_NAME_CHARS = 64;
/** P-256 scalars (r, s of a signature) are 32 octets (SEC 1 §2.3.7); WebCrypto returns them back to back. */
const P256_SCALAR_BYTES = 32;

const OID = {
  ecdsaWithSha256: "1.2.840.10045.4.3.2", // RFC 5758 §3.2 (no parameters)
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
} as const;

/** RFC 4514 §3 short names, for the subject text shown to users. */
const NAME_LABELS: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "1.2.840.113549.1.9.1": "E",
};

/** What leaf issuance needs from the CA, with the signing key kept as a non-extractable handle. */
export interface IssuerKey {
  /** DER of the CA's subject Name, reused byte for byte as the leaf's issuer (RFC 5280 §7.1 name chaining). */
  subjectDer: ArrayBuffer;
  subjectKeyIdHex: string;
  notAfter: Date;
  signingKey: CryptoKey;
}

/** Plain facts about a parsed certificate. */
export interface CertificateFacts {
  der: ArrayBuffer;
  subject: string;
  subjectDer: ArrayBuffer;
  commonName: string | undefined;
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
  isCA: boolean;
  /** Undefined when the certificate has no SubjectKeyIdentifier extension. */
  subjectKeyIdHex: string | undefined;
  spki: ArrayBuffer;
  /** DER value of the nameConstraints extension (constraints.ts decodes it); undefined when absent. */
  nameConstraintsDer: Uint8Array | undefined;
}

export async function generateKeyPair(): Promise<CryptoKeyPair> {
  // Extractable so the private key can be exported as PKCS#8 (to disk for the CA, to Bun.serve for leaves).
  return (await crypto.subtle.generateKey(EC_KEY_ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
}

/** A random positive serial; the top bit is cleared so the DER INTEGER needs no leading zero octet. */
export function randomSerialHex(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(SERIAL_BYTES));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  // An all-zero serial is not positive (RFC 5280 §4.1.2.2); the odds are 2^-127, but the fix is one line.
  if (bytes.every((byte) => byte === 0)) bytes[SERIAL_BYTES - 1] = 1;
  return Buffer.from(bytes).toString("hex");
}

/** RFC 5280 §4.2.1.6 dNSName and X.520 names are encoded as UTF8String (§4.1.2.4: "MUST use ... UTF8String"). */
function utf8Name(attributes: [type: string, value: string][]): Uint8Array {
  const rdns = attributes.map(([type, value]) =>
    tlv(TAG.set, sequence(oid(type), tlv(TAG.utf8String, new TextEncoder().encode(value)))),
  );
  return sequence(...rdns);
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  const flag = critical ? [tlv(TAG.boolean, Uint8Array.of(0xff))] : [];
  return sequence(oid(id), ...flag, tlv(TAG.octetString, value));
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's value (the EC point). */
async function keyIdentifier(publicKey: CryptoKey): Promise<Uint8Array> {
  const point = await crypto.subtle.exportKey("raw", publicKey);
  return new Uint8Array(await crypto.subtle.digest("SHA-1", point));
}

/** RFC 5280 §4.2.1.3 KeyUsage: a named BIT STRING, trailing zero bits dropped (X.690 §11.2.2). */
function keyUsage(bits: readonly number[]): Uint8Array {
  const last = Math.max(...bits);
  const bytes = new Uint8Array(Math.floor(last / 8) + 1);
  for (const bit of bits) bytes[Math.floor(bit / 8)] = (bytes[Math.floor(bit / 8)] ?? 0) | (0x80 >> (bit % 8));
  return tlv(TAG.bitString, Uint8Array.of(7 - (last % 8)), bytes);
}
const KEY_USAGE_BIT = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

interface TbsParams {
  serialHex: string;
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  publicKey: CryptoKey;
  extensions: Uint8Array[];
}

/** TBSCertificate (RFC 5280 §4.1), signed with ECDSA-SHA256 into a Certificate. */
async function signCertificate(params: TbsParams, signingKey: CryptoKey): Promise<Uint8Array> {
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", params.publicKey));
  const tbs = sequence(
    tlv(explicitTag(0), tlv(TAG.integer, Uint8Array.of(2))), // v3
    unsignedInteger(Buffer.from(params.serialHex, "hex")),
    algorithm,
    params.issuer,
    sequence(time(params.notBefore), time(params.notAfter)),
    params.subject,
    spki,
    tlv(explicitTag(3), sequence(...params.extensions)),
  );
  const p1363 = new Uint8Array(await crypto.subtle.sign(SIGNING_ALGORITHM, signingKey, tbs));
  // X.509 carries ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (RFC 3279 §2.2.3), not WebCrypto's r || s.
  const signature = sequence(
    unsignedInteger(p1363.subarray(0, P256_SCALAR_BYTES)),
    unsignedInteger(p1363.subarray(P256_SCALAR_BYTES)),
  );
  return sequence(tbs, algorithm, tlv(TAG.bitString, Uint8Array.of(0), signature));
}

export interface CaCertificateParams {
  keys: CryptoKeyPair;
  commonName: string;
  organization: string;
  notBefore: Date;
  notAfter: Date;
  /** DER from constraints.ts encodeNameConstraints; omitted for an unconstrained CA. */
  nameConstraintsDer?: Uint8Array;
}

/**
 * A self-signed root: basicConstraints CA:true pathLen 0 (leaves only), keyCertSign + cRLSign, SKI, and
 * nameConstraints when given, critical because RFC 5280 §4.2.1.10 says conforming CAs MUST mark it so.
 */
export async function createCaCertificatePem(params: CaCertificateParams): Promise<string> {
  const name = utf8Name([
    [OID.commonName, params.commonName],
    [OID.organization, params.organization],
  ]);
  const extensions = [
    extension(
      OID.basicConstraints,
      true,
      sequence(tlv(TAG.boolean, Uint8Array.of(0xff)), tlv(TAG.integer, Uint8Array.of(0))),
    ),
    extension(OID.keyUsage, true, keyUsage([KEY_USAGE_BIT.keyCertSign, KEY_USAGE_BIT.cRLSign])),
    extension(OID.subjectKeyIdentifier, false, tlv(TAG.octetString, await keyIdentifier(params.keys.publicKey))),
  ];
  if (params.nameConstraintsDer) extensions.push(extension(NAME_CONSTRAINTS_OID, true, params.nameConstraintsDer));
  const der = await signCertificate(
    {
      ...params,
      serialHex: randomSerialHex(),
      issuer: name,
      subject: name,
      publicKey: params.keys.publicKey,
      extensions,
    },
    params.keys.privateKey,
  );
  return `${pem(der, "CERTIFICATE")}\n`;
}

export interface LeafCertificateParams {
  issuer: IssuerKey;
  publicKey: CryptoKey;
  /** Omitted from the subject when undefined (SAN is what clients check: RFC 6125 §6.4.4, Chrome 58+). */
  commonName: string | undefined;
  dnsNames: string[];
  ipAddresses: string[];
  notBefore: Date;
  notAfter: Date;
}

/** A TLS server leaf: SAN, CA:false, digitalSignature (critical), EKU serverAuth, AKI = CA's SKI, SKI. */
export async function createLeafCertificate(
  params: LeafCertificateParams,
): Promise<{ pem: string; der: ArrayBuffer; serialHex: string }> {
  const altNames = [
    ...params.dnsNames.map((name) => tlv(implicitTag(2), new TextEncoder().encode(name))),
    ...params.ipAddresses.map((address) => tlv(implicitTag(7), ipBytes(address))),
  ];
  const extensions = [
    // RFC 5280 §4.2.1.6: SAN MUST be critical when the subject is empty.
    extension(OID.subjectAltName, params.commonName === undefined, sequence(...altNames)),
    extension(OID.basicConstraints, true, sequence()),
    extension(OID.keyUsage, true, keyUsage([KEY_USAGE_BIT.digitalSignature])),
    extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
    extension(
      OID.authorityKeyIdentifier,
      false,
      sequence(tlv(implicitTag(0), Buffer.from(params.issuer.subjectKeyIdHex, "hex"))),
    ),
    extension(OID.subjectKeyIdentifier, false, tlv(TAG.octetString, await keyIdentifier(params.publicKey))),
  ];
  const serialHex = randomSerialHex();
  const der = await signCertificate(
    {
      serialHex,
      issuer: new Uint8Array(params.issuer.subjectDer),
      subject: utf8Name(params.commonName === undefined ? [] : [[OID.commonName, params.commonName]]),
      notBefore: params.notBefore,
      notAfter: params.notAfter,
      publicKey: params.publicKey,
      extensions,
    },
    params.issuer.signingKey,
  );
  return { pem: `${pem(der, "CERTIFICATE")}\n`, der: copy(der), serialHex: serialOf(der) };
}

/** Parses the first certificate in a PEM string. Throws a plain Error on anything that is not one. */
export function parseCertificatePem(text: string): CertificateFacts {
  const first = pemBlocks(text).find((block) => block.label === "CERTIFICATE");
  if (!first) throw new Error("no PEM block of type CERTIFICATE");
  return parseCertificate(first.der);
}

function parseCertificate(der: Uint8Array): CertificateFacts {
  const certificate = readTlv(der);
  const [tbs] = children(certificate.value);
  if (certificate.tag !== TAG.sequence || tbs?.tag !== TAG.sequence) throw new Error("not an X.509 certificate");
  const fields = children(tbs.value);
  if (fields[0]?.tag === explicitTag(0)) fields.shift(); // version
  const [serial, , , validity, subject, spki, ...rest] = fields;
  if (serial?.tag !== TAG.integer || !validity || !subject || !spki) throw new Error("truncated TBSCertificate");
  const [notBefore, notAfter] = children(validity.value);
  if (!notBefore || !notAfter) throw new Error("truncated validity");
  const extensions = extensionsOf(rest.find((field) => field.tag === explicitTag(3)));
  const basic = extensions.get(OID.basicConstraints);
  const ski = extensions.get(OID.subjectKeyIdentifier);
  const names = nameAttributes(subject);
  return {
    der: copy(der.subarray(0, certificate.end)),
    subject: names.map(([label, value]) => `${label}=${escapeValue(value)}`).join(", "),
    subjectDer: copy(subject.raw),
    commonName: names.find(([label]) => label === "CN")?.[1],
    serialHex: serialHex(serial.value),
    notBefore: decodeTime(notBefore),
    notAfter: decodeTime(notAfter),
    isCA: basic !== undefined && children(readTlv(basic).value)[0]?.tag === TAG.boolean && readBoolean(basic),
    subjectKeyIdHex: ski ? Buffer.from(readTlv(ski).value).toString("hex") : undefined,
    spki: copy(spki.raw),
    nameConstraintsDer: extensions.has(NAME_CONSTRAINTS_OID)
      ? Uint8Array.from(extensions.get(NAME_CONSTRAINTS_OID) as Uint8Array)
      : undefined,
  };
}

/** extnID → extnValue's content (RFC 5280 §4.1: Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }). */
function extensionsOf(field: Tlv | undefined): Map<string, Uint8Array> {
  const found = new Map<string, Uint8Array>();
  if (!field) return found;
  for (const item of children(readTlv(field.value).value)) {
    const parts = children(item.value);
    const id = parts[0];
    const value = parts.at(-1);
    if (id?.tag !== TAG.oid || value?.tag !== TAG.octetString) throw new Error("malformed extension");
    found.set(decodeOid(id.value), value.value);
  }
  return found;
}

function readBoolean(basicConstraints: Uint8Array): boolean {
  const flag = children(readTlv(basicConstraints).value)[0];
  return flag !== undefined && (flag.value[0] ?? 0) !== 0;
}

function nameAttributes(name: Tlv): [label: string, value: string][] {
  const attributes: [string, string][] = [];
  for (const rdn of children(name.value)) {
    for (const attribute of children(rdn.value)) {
      const [type, value] = children(attribute.value);
      if (type?.tag !== TAG.oid || !value) throw new Error("malformed name");
      const id = decodeOid(type.value);
      attributes.push([NAME_LABELS[id] ?? id, stringValue(value)]);
    }
  }
  return attributes;
}

function stringValue(item: Tlv): string {
  if (item.tag === TAG.bmpString) return Buffer.from(item.value).swap16().toString("utf16le");
  if (item.tag === TAG.t61String) return Buffer.from(item.value).toString("latin1");
  return new TextDecoder().decode(item.value);
}

/** RFC 4514 §2.4: the characters that must be escaped in an attribute value. */
function escapeValue(value: string): string {
  return value.replace(/[,+"\\<>;]/g, (char) => `\\${char}`).replace(/^[ #]| $/g, (char) => `\\${char}`);
}

/** The serial's value in lower-case hex, without leading zero octets (as OpenSSL and @peculiar/x509 show it). */
function serialHex(content: Uint8Array): string {
  let start = 0;
  while (start < content.length - 1 && content[start] === 0) start++;
  return Buffer.from(content.subarray(start)).toString("hex");
}

/** The serial of a certificate this module just built. */
function serialOf(der: Uint8Array): string {
  const [tbs] = children(readTlv(der).value);
  return serialHex((children((tbs as Tlv).value)[1] as Tlv).value);
}

function copy(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
}

/** The DER inside the first PEM block with the given label, e.g. "PRIVATE KEY". */
export function pemToDer(text: string, label: string): ArrayBuffer {
  const block = pemBlocks(text).find((candidate) => candidate.label === label);
  if (!block) throw new Error(`no PEM block of type ${label}`);
  return copy(block.der);
}

export function derToPem(der: ArrayBuffer, label: string): string {
  return `${pem(new Uint8Array(der), label)}\n`;
}

export async function sha256Hex(der: ArrayBuffer): Promise<string> {
  return Buffer.from(await crypto.subtle.digest("SHA-256", der)).toString("hex");
}
