/**
 * The iOS/iPadOS (and macOS) configuration profile that installs gotunnel's CA: an XML property list (Apple's
 * "Configuration Profile Reference") with one `com.apple.security.root` payload carrying the certificate's DER.
 * Its identifiers and UUIDs derive from the CA's fingerprint, so downloading it again replaces the same profile
 * on the device instead of adding a second one, and a new CA (after `gotunnel ca rotate`) gets a new profile.
 */
import { createHash } from "node:crypto";
import type { CaCertificate } from "./certificate.ts";

/** RFC 9562 §5.5 name-based UUIDs need a namespace: this one is gotunnel's own, fixed forever. */
const UUID_NAMESPACE = "aeefdcdf-b324-4e48-887b-7f6c8c04224a";
const IDENTIFIER_PREFIX = "gotunnel.ca";
const FINGERPRINT_ID_CHARS = 16;

export interface ProfileOptions {
  /** Shown as the profile's and the certificate's name, e.g. the CA's common name. */
  displayName: string;
  organization?: string;
}

/** RFC 9562 §5.5: version 5 (SHA-1, name-based) UUID of `name` in gotunnel's namespace. */
export function nameUuid(name: string): string {
  const namespace = Buffer.from(UUID_NAMESPACE.replaceAll("-", ""), "hex");
  const bytes = createHash("sha1").update(namespace).update(name).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString("hex").toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** XML 1.0 §2.4: the five characters that cannot appear literally in character data. */
export function xmlEscape(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

const str = (key: string, value: string) => `<key>${key}</key><string>${xmlEscape(value)}</string>`;
const int = (key: string, value: number) => `<key>${key}</key><integer>${value}</integer>`;

export function mobileconfig(ca: CaCertificate, options: ProfileOptions): string {
  const id = ca.fingerprintSha256.replaceAll(":", "").slice(0, FINGERPRINT_ID_CHARS).toLowerCase();
  const organization = options.organization ?? "gotunnel";
  const base64 = Buffer.from(ca.der).toString("base64").replace(/.{64}/g, "$&\n");
  const certificate = [
    "<dict>",
    str("PayloadCertificateFileName", "gotunnel-ca.cer"),
    `<key>PayloadContent</key><data>\n${base64.trimEnd()}\n</data>`,
    str("PayloadDescription", "Adds gotunnel's local development CA as a trusted root certificate."),
    str("PayloadDisplayName", options.displayName),
    str("PayloadIdentifier", `${IDENTIFIER_PREFIX}.${id}.root`),
    str("PayloadType", "com.apple.security.root"),
    str("PayloadUUID", nameUuid(`${ca.fingerprintSha256}/root`)),
    int("PayloadVersion", 1),
    "</dict>",
  ];
  const profile = [
    `<key>PayloadContent</key><array>${certificate.join("\n")}</array>`,
    str("PayloadDescription", `Trust HTTPS dev servers shared from ${options.displayName} with gotunnel.`),
    str("PayloadDisplayName", options.displayName),
    str("PayloadIdentifier", `${IDENTIFIER_PREFIX}.${id}`),
    str("PayloadOrganization", organization),
    "<key>PayloadRemovalDisallowed</key><false/>",
    str("PayloadType", "Configuration"),
    str("PayloadUUID", nameUuid(`${ca.fingerprintSha256}/profile`)),
    int("PayloadVersion", 1),
  ];
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    `<dict>\n${profile.join("\n")}\n</dict>`,
    "</plist>",
    "",
  ].join("\n");
}
