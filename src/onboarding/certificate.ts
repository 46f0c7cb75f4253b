/**
 * The CA certificate in the forms devices install: PEM (macOS, Linux), DER (`.crt`: Android, Windows), and its
 * SHA-256 fingerprint, which the user compares on the device before trusting it. Pure functions over the PEM text.
 */
import { createHash } from "node:crypto";

const PEM_CERTIFICATE_RE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/;

export interface CaCertificate {
  pem: string;
  der: Uint8Array;
  /** Uppercase hex pairs joined by ":", as iOS, Android, macOS and Windows display it. */
  fingerprintSha256: string;
}

/** The first certificate of a PEM text (RFC 7468 §2), decoded. Throws if there is none. */
export function caCertificate(pem: string): CaCertificate {
  const body = PEM_CERTIFICATE_RE.exec(pem)?.[1];
  if (!body) throw new Error("the CA PEM text holds no CERTIFICATE block");
  const der = new Uint8Array(Buffer.from(body.replace(/\s+/g, ""), "base64"));
  const block = `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n").trimEnd()}\n-----END CERTIFICATE-----\n`;
  return { pem: block, der, fingerprintSha256: formatFingerprint(createHash("sha256").update(der).digest("hex")) };
}

export function formatFingerprint(hex: string): string {
  return (hex.toUpperCase().match(/.{2}/g) ?? []).join(":");
}
