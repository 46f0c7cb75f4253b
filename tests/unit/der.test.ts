/**
 * The hand-written DER of src/tls (der.ts, x509.ts) against the library and the tool that read certificates in the
 * wild: every certificate OpenSSL or @peculiar/x509 makes must parse to the same facts, and every certificate gotunnel
 * makes is read back by @peculiar/x509 and OpenSSL in tests/unit/tls.test.ts.
 */
import "reflect-metadata";
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BasicConstraintsExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
} from "@peculiar/x509";
import { decodeTime, readTlv, TAG, time, tlv, unsignedInteger } from "../../src/tls/der.ts";
import { EC_KEY_ALGORITHM, parseCertificatePem } from "../../src/tls/x509.ts";
import { requireTools } from "../helpers/tools.ts";

const opensslTool = requireTools("openssl");

function opensslCertificate(subject: string, days: number, extra: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-der-"));
  try {
    const out = join(dir, "cert.pem");
    const args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout"];
    const result = Bun.spawnSync(
      ["openssl", ...args, join(dir, "key.pem"), "-out", out, "-subj", subject, "-days", String(days), ...extra],
      { stderr: "pipe" },
    );
    if (result.exitCode !== 0) throw new Error(result.stderr.toString());
    return readFileSync(out, "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What @peculiar/x509 reads from the same PEM: the facts parseCertificatePem must agree on. */
function libraryFacts(pem: string) {
  const cert = new X509Certificate(pem);
  return {
    subject: cert.subject,
    subjectDer: Buffer.from(cert.subjectName.toArrayBuffer()).toString("hex"),
    commonName: cert.subjectName.getField("CN")[0],
    serialHex: cert.serialNumber.toLowerCase(),
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    isCA: cert.getExtension(BasicConstraintsExtension)?.ca === true,
    subjectKeyIdHex: cert.getExtension(SubjectKeyIdentifierExtension)?.keyId,
    spki: Buffer.from(cert.publicKey.rawData).toString("hex"),
    der: Buffer.from(cert.rawData).toString("hex"),
  };
}

function ourFacts(pem: string) {
  const facts = parseCertificatePem(pem);
  return {
    subject: facts.subject,
    subjectDer: Buffer.from(facts.subjectDer).toString("hex"),
    commonName: facts.commonName,
    serialHex: facts.serialHex,
    notBefore: facts.notBefore.toISOString(),
    notAfter: facts.notAfter.toISOString(),
    isCA: facts.isCA,
    subjectKeyIdHex: facts.subjectKeyIdHex,
    spki: Buffer.from(facts.spki).toString("hex"),
    der: Buffer.from(facts.der).toString("hex"),
  };
}

describe.skipIf(!!opensslTool.skip)(opensslTool.title("parseCertificatePem agrees with @peculiar/x509"), () => {
  test("an OpenSSL CA with several name attributes, RFC 4514 specials and a validity past 2050 (GeneralizedTime)", () => {
    const pem = opensslCertificate('/C=DE/O=Acme, Inc./OU=dev+ops/CN=#local "CA"', 30 * 365);
    expect(pem).toContain("CERTIFICATE");
    expect(ourFacts(pem)).toEqual(libraryFacts(pem));
    expect(parseCertificatePem(pem).notAfter.getUTCFullYear()).toBeGreaterThanOrEqual(2050);
  });

  test("an OpenSSL leaf without basicConstraints or a subject key identifier", () => {
    const pem = opensslCertificate("/CN=leaf.local", 30, ["-addext", "basicConstraints=CA:FALSE"]);
    const facts = ourFacts(pem);
    expect(facts).toEqual(libraryFacts(pem));
    expect(facts.isCA).toBe(false);
  });

  test("a @peculiar/x509 certificate with a serial whose first octet is zero", async () => {
    const keys = (await crypto.subtle.generateKey(EC_KEY_ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
    const cert = await X509CertificateGenerator.createSelfSigned({
      name: "CN=zero serial",
      keys,
      serialNumber: "00ab01",
      notBefore: new Date("2026-01-01T00:00:00Z"),
      notAfter: new Date("2027-01-01T00:00:00Z"),
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    });
    const pem = cert.toString("pem");
    expect(ourFacts(pem)).toEqual(libraryFacts(pem));
  });
});

describe("DER primitives", () => {
  test("lengths of 128 bytes and more take the long form and read back", () => {
    for (const size of [0, 127, 128, 255, 256, 70_000]) {
      const encoded = tlv(TAG.octetString, new Uint8Array(size).fill(7));
      const read = readTlv(encoded);
      expect(read.value.length).toBe(size);
      expect(read.end).toBe(encoded.length);
    }
    expect([...tlv(TAG.octetString, new Uint8Array(200)).subarray(0, 3)]).toEqual([0x04, 0x81, 200]);
  });

  test("a truncated encoding is refused", () => {
    expect(() => readTlv(Uint8Array.of(0x30, 0x05, 0x01))).toThrow("truncated DER");
  });

  test("unsigned integers are minimal: leading zeros dropped, a zero octet added before a set top bit", () => {
    expect([...unsignedInteger(Uint8Array.of(0, 0, 0x7f))]).toEqual([0x02, 0x01, 0x7f]);
    expect([...unsignedInteger(Uint8Array.of(0, 0x80))]).toEqual([0x02, 0x02, 0x00, 0x80]);
    expect([...unsignedInteger(Uint8Array.of(0, 0))]).toEqual([0x02, 0x01, 0x00]);
  });

  test("UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5), both read back", () => {
    for (const iso of ["1999-12-31T23:59:59.000Z", "2049-12-31T23:59:59.000Z", "2050-01-01T00:00:00.000Z"]) {
      const encoded = readTlv(time(new Date(iso)));
      expect(encoded.tag).toBe(iso.startsWith("2050") ? TAG.generalizedTime : TAG.utcTime);
      expect(decodeTime(encoded).toISOString()).toBe(iso);
    }
  });
});
