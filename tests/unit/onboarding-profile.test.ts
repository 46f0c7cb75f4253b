import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { caCertificate, formatFingerprint } from "../../src/onboarding/certificate.ts";
import { mobileconfig, nameUuid, xmlEscape } from "../../src/onboarding/profile.ts";

let dir: string;
let ca: { certPem: string; commonName: string; fingerprintSha256: string };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gotunnel-onboarding-"));
  const { loadOrCreateCA } = await (await import("../../src/tls/load.ts")).loadTls();
  ({ ca } = await loadOrCreateCA(join(dir, "ca")));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The <data> of the certificate payload, decoded. */
function payloadDer(profile: string): Uint8Array {
  const base64 = /<key>PayloadContent<\/key><data>([^<]+)<\/data>/.exec(profile)?.[1] ?? "";
  return new Uint8Array(Buffer.from(base64.replace(/\s+/g, ""), "base64"));
}

describe("caCertificate", () => {
  test("DER and fingerprint of the CA, as devices display it", () => {
    const cert = caCertificate(ca.certPem);
    const parsed = new X509Certificate(cert.der);
    expect(parsed.ca).toBe(true);
    expect(parsed.subject).toContain(ca.commonName);
    expect(cert.fingerprintSha256).toBe(parsed.fingerprint256);
    expect(cert.fingerprintSha256.replaceAll(":", "").toLowerCase()).toBe(ca.fingerprintSha256);
    expect(new X509Certificate(cert.pem).fingerprint256).toBe(parsed.fingerprint256);
  });

  test("only the first certificate of a bundle; no certificate is an error", () => {
    expect(caCertificate(`junk\n${ca.certPem}${ca.certPem}`).der.length).toBe(caCertificate(ca.certPem).der.length);
    expect(() => caCertificate("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")).toThrow(
      /no CERTIFICATE/,
    );
    expect(formatFingerprint("0aff")).toBe("0A:FF");
  });
});

describe("mobileconfig", () => {
  test("a plist whose root payload carries the CA's DER with Apple's payload keys", () => {
    const profile = mobileconfig(caCertificate(ca.certPem), { displayName: ca.commonName });
    expect(profile.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist')).toBe(true);
    expect(Buffer.from(payloadDer(profile)).equals(Buffer.from(caCertificate(ca.certPem).der))).toBe(true);
    for (const key of ["PayloadType</key><string>com.apple.security.root", "PayloadType</key><string>Configuration"]) {
      expect(profile).toContain(key);
    }
    expect(profile).toContain(`<key>PayloadDisplayName</key><string>${xmlEscape(ca.commonName)}</string>`);
    expect(profile.match(/<key>PayloadVersion<\/key><integer>1<\/integer>/g)).toHaveLength(2);
    expect(profile.match(/<dict>/g)?.length).toBe(profile.match(/<\/dict>/g)?.length);
  });

  test("identifiers and UUIDs derive from the fingerprint: stable across downloads, new for a new CA", () => {
    const cert = caCertificate(ca.certPem);
    const uuids = (profile: string) => [...profile.matchAll(/PayloadUUID<\/key><string>([^<]+)/g)].map((m) => m[1]);
    const first = mobileconfig(cert, { displayName: "A" });
    expect(uuids(first)).toEqual(uuids(mobileconfig(cert, { displayName: "B" })));
    expect(new Set(uuids(first)).size).toBe(2);
    const other = mobileconfig({ ...cert, fingerprintSha256: "00:11" }, { displayName: "A" });
    expect(uuids(other)).not.toEqual(uuids(first));
    expect(first).toContain(`gotunnel.ca.${cert.fingerprintSha256.replaceAll(":", "").slice(0, 16).toLowerCase()}`);
  });

  test("the display name is escaped, so a name cannot break the XML", () => {
    const profile = mobileconfig(caCertificate(ca.certPem), { displayName: 'a<b>&"c' });
    expect(profile).toContain("a&lt;b&gt;&amp;&quot;c");
    expect(profile).not.toContain("a<b>");
  });
});

describe("nameUuid (RFC 9562 §5.5)", () => {
  test("matches Python's uuid.uuid5 in gotunnel's namespace", () => {
    // python3 -c "import uuid; print(uuid.uuid5(uuid.UUID('aeefdcdf-b324-4e48-887b-7f6c8c04224a'), 'AB:CD/root'))"
    expect(nameUuid("AB:CD/root")).toBe("1E652382-B9D8-5B08-8451-78B1536918DA");
    expect(nameUuid("gotunnel")).toBe("11168E2F-BC2B-5698-A60C-A0254B0219F0");
  });
});
