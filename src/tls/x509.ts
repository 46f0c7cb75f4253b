/**
 * The one owner module of @peculiar/x509: builds and parses certificates. Nothing here touches the file system.
 * Its types never leave this file; callers get plain strings, Dates, ArrayBuffers and WebCrypto CryptoKeys.
 *
 * @peculiar/x509 uses TypeScript decorator metadata, so "reflect-metadata" must be imported before it
 * (DESIGN.md "Bun facts": @abraham/reflection does not work under Bun).
 */
import "reflect-metadata";
import type { webcrypto } from "node:crypto";
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  Extension,
  type JsonGeneralName,
  type JsonNameParams,
  KeyUsageFlags,
  KeyUsagesExtension,
  Name,
  PemConverter,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
} from "@peculiar/x509";
import { NAME_CONSTRAINTS_OID } from "./constraints.ts";

/** ECDSA P-256: accepted by every browser and TLS stack, and a key pair costs well under a millisecond. */
export const EC_KEY_ALGORITHM: webcrypto.EcKeyImportParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
/** RFC 5280 §4.1.2.2: serials are positive and at most 20 octets; 16 random bytes (+1 sign octet) fit. */
const SERIAL_BYTES = 16;
/** RFC 5280 Appendix A, ub-common-name: a CN longer than 64 characters is invalid DER for strict parsers. */
export const MAX_COMMON_NAME_CHARS = 64;

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
function utf8Name(attributes: [type: string, value: string][]): Name {
  const json: JsonNameParams = attributes.map(([type, value]) => ({ [type]: [{ utf8String: value }] }));
  return new Name(json);
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
  const extensions: Extension[] = [
    new BasicConstraintsExtension(true, 0, true),
    new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
    await SubjectKeyIdentifierExtension.create(params.keys.publicKey),
  ];
  if (params.nameConstraintsDer) {
    extensions.push(new Extension(NAME_CONSTRAINTS_OID, true, Uint8Array.from(params.nameConstraintsDer)));
  }
  const cert = await X509CertificateGenerator.createSelfSigned({
    name: utf8Name([
      ["CN", params.commonName],
      ["O", params.organization],
    ]),
    keys: params.keys,
    serialNumber: randomSerialHex(),
    notBefore: params.notBefore,
    notAfter: params.notAfter,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions,
  });
  return `${cert.toString("pem")}\n`;
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

/**
 * What every leaf of one CA has in common, built once per CA: each of these objects costs the library a DER encode
 * and a parse to make, which in a fresh issuer process (cold JIT) was about a third of a leaf's time.
 */
const leafParts = new WeakMap<IssuerKey, { extensions: Extension[]; issuerName: Name }>();

function sharedLeafParts(issuer: IssuerKey): { extensions: Extension[]; issuerName: Name } {
  let parts = leafParts.get(issuer);
  if (!parts) {
    parts = {
      extensions: [
        new BasicConstraintsExtension(false, undefined, true),
        new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
        new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth], false),
        new AuthorityKeyIdentifierExtension(issuer.subjectKeyIdHex, false),
      ],
      issuerName: new Name(issuer.subjectDer),
    };
    leafParts.set(issuer, parts);
  }
  return parts;
}

/** A TLS server leaf: SAN, CA:false, digitalSignature (critical), EKU serverAuth, AKI = CA's SKI, SKI. */
export async function createLeafCertificate(
  params: LeafCertificateParams,
): Promise<{ pem: string; der: ArrayBuffer; serialHex: string }> {
  const altNames: JsonGeneralName[] = [
    ...params.dnsNames.map((value): JsonGeneralName => ({ type: "dns", value })),
    ...params.ipAddresses.map((value): JsonGeneralName => ({ type: "ip", value })),
  ];
  const shared = sharedLeafParts(params.issuer);
  const extensions: Extension[] = [
    // RFC 5280 §4.2.1.6: SAN MUST be critical when the subject is empty.
    new SubjectAlternativeNameExtension(altNames, params.commonName === undefined),
    ...shared.extensions,
    await SubjectKeyIdentifierExtension.create(params.publicKey),
  ];
  const cert = await X509CertificateGenerator.create({
    subject: utf8Name(params.commonName === undefined ? [] : [["CN", params.commonName]]),
    issuer: shared.issuerName,
    publicKey: params.publicKey,
    signingKey: params.issuer.signingKey,
    serialNumber: randomSerialHex(),
    notBefore: params.notBefore,
    notAfter: params.notAfter,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions,
  });
  return { pem: `${cert.toString("pem")}\n`, der: cert.rawData, serialHex: cert.serialNumber.toLowerCase() };
}

/** Parses the first certificate in a PEM string. Throws a plain Error on anything that is not one. */
export function parseCertificatePem(pem: string): CertificateFacts {
  const blocks = PemConverter.decodeWithHeaders(pem).filter((block) => block.type === "CERTIFICATE");
  const first = blocks[0];
  if (!first) throw new Error("no PEM block of type CERTIFICATE");
  const cert = new X509Certificate(first.rawData);
  const basic = cert.getExtension(BasicConstraintsExtension);
  const ski = cert.getExtension(SubjectKeyIdentifierExtension);
  const constraints = cert.extensions.find((extension) => extension.type === NAME_CONSTRAINTS_OID);
  return {
    der: cert.rawData,
    subject: cert.subject,
    subjectDer: cert.subjectName.toArrayBuffer(),
    commonName: cert.subjectName.getField("CN")[0],
    serialHex: cert.serialNumber.toLowerCase(),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    isCA: basic?.ca === true,
    subjectKeyIdHex: ski?.keyId,
    spki: cert.publicKey.rawData,
    nameConstraintsDer: constraints ? new Uint8Array(constraints.value) : undefined,
  };
}

/** The DER inside the first PEM block with the given label, e.g. "PRIVATE KEY". */
export function pemToDer(pem: string, label: string): ArrayBuffer {
  const block = PemConverter.decodeWithHeaders(pem).find((candidate) => candidate.type === label);
  if (!block) throw new Error(`no PEM block of type ${label}`);
  return block.rawData;
}

export function derToPem(der: ArrayBuffer, label: string): string {
  return `${PemConverter.encode(der, label)}\n`;
}

export async function sha256Hex(der: ArrayBuffer): Promise<string> {
  return Buffer.from(await crypto.subtle.digest("SHA-256", der)).toString("hex");
}
