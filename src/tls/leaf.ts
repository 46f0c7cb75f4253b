/**
 * Leaf (server) certificates for routes, signed by the local CA. Keys are fresh per leaf and live in memory only:
 * the daemon reissues at startup, which costs a few milliseconds per route and leaves no key files to leak.
 */
import { isIP } from "node:net";
import { GotunnelError } from "../core/errors.ts";
import { CLOCK_SKEW_MS, caIssuerKey, DAY_MS, type LocalCA } from "./ca.ts";
import { assertPermitted } from "./constraints.ts";
import { createLeafCertificate, derToPem, generateKeyPair, MAX_COMMON_NAME_CHARS, sha256Hex } from "./x509.ts";

/**
 * Total validity, notBefore (backdated by CLOCK_SKEW_MS) to notAfter. Apple rejects TLS server certificates valid for
 * more than 398 days from public roots and recommends at most 397 (support.apple.com/102028, counted inclusively per
 * RFC 5280 §4.1.2.5), and more than 825 days from any root, user-added ones included (support.apple.com/103769).
 * Chrome follows the CA/Browser Forum Baseline Requirements §6.3.2. 397 satisfies all of them.
 */
export const LEAF_VALIDITY_DAYS = 397;
/** RFC 1035 §2.3.4: at most 253 characters in a name (255 octets on the wire), 63 per label. */
const MAX_DNS_NAME_CHARS = 253;
const MAX_DNS_LABEL_CHARS = 63;
/** Letters, digits and hyphens (RFC 5890 LDH labels; punycode A-labels included), no leading or trailing hyphen. */
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

export interface LeafCertificate {
  /** The names in the certificate's SAN, normalised (lower case, IPs in canonical form), in the order given. */
  names: string[];
  /** The leaf certificate only (no chain: the CA is a root that clients trust directly). */
  certPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
  serialHex: string;
  /** Lower-case hex SHA-256 of the DER certificate, no separators. */
  fingerprintSha256: string;
}

/**
 * Issues a leaf for one route. names: ASCII host names (maybe `*.foo.local`) or IP literals; the first host name is
 * the CN. Names outside the CA's nameConstraints are refused with E_TLS before anything is signed.
 */
export async function issueLeaf(ca: LocalCA, names: string[], options: { now?: Date } = {}): Promise<LeafCertificate> {
  const { dnsNames, ipAddresses, ordered } = classifyNames(names);
  assertPermitted(ordered, ca.nameConstraints);
  const issuer = caIssuerKey(ca);
  const now = options.now ?? new Date();
  const notBefore = new Date(now.getTime() - CLOCK_SKEW_MS);
  // A leaf must not outlive its issuer (RFC 5280 §6.1.3 checks every certificate in the path for validity).
  const notAfter = new Date(Math.min(notBefore.getTime() + LEAF_VALIDITY_DAYS * DAY_MS, issuer.notAfter.getTime()));
  const keys = await generateKeyPair();
  // No CN for an IP-only leaf: with no dNSName in the SAN, OpenSSL checks a CN that looks like a host name
  // ("127.0.0.1" does) against the CA's DNS name constraints and fails (crypto/x509/v3_ncons.c, checked with 3.0).
  const first = dnsNames[0];
  const { pem, der, serialHex } = await createLeafCertificate({
    issuer,
    publicKey: keys.publicKey,
    commonName: first !== undefined && first.length <= MAX_COMMON_NAME_CHARS ? first : undefined,
    dnsNames,
    ipAddresses,
    notBefore,
    notAfter,
  });
  const keyPem = derToPem(await crypto.subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY");
  return {
    names: ordered,
    certPem: pem,
    keyPem,
    notBefore,
    notAfter,
    serialHex,
    fingerprintSha256: await sha256Hex(der),
  };
}

/** A LeafIssuer (store.ts) that signs in this process: for commands and tests; the daemon uses issuer/client.ts. */
export function issuerFor(ca: LocalCA): (names: string[], now: Date) => Promise<LeafCertificate> {
  return (names, now) => issueLeaf(ca, names, { now });
}

/** Splits names into SAN dNSName and iPAddress entries (RFC 5280 §4.2.1.6), rejecting anything malformed. */
export function classifyNames(names: string[]): { dnsNames: string[]; ipAddresses: string[]; ordered: string[] } {
  if (names.length === 0) throw invalidName("", "a certificate needs at least one name");
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  const ordered: string[] = [];
  for (const raw of names) {
    const ip = normaliseIp(raw);
    const name = ip ?? raw.toLowerCase().replace(/\.$/, "");
    if (ordered.includes(name)) continue;
    if (ip) ipAddresses.push(ip);
    else {
      checkDnsName(name);
      dnsNames.push(name);
    }
    ordered.push(name);
  }
  return { dnsNames, ipAddresses, ordered };
}

/** The canonical text of an IP literal, or undefined when the name is not one. */
function normaliseIp(raw: string): string | undefined {
  const bare = raw.startsWith("[") && raw.endsWith("]") ? raw.slice(1, -1) : raw;
  const version = isIP(bare);
  if (version === 0) return undefined;
  if (version === 4) return bare;
  // URL's parser canonicalises IPv6 (RFC 5952), including IPv4-embedded forms such as ::ffff:127.0.0.1, which the
  // certificate library would otherwise mis-encode. Zone IDs (fe80::1%eth0) cannot go in a certificate.
  if (bare.includes("%")) throw invalidName(raw, "an IPv6 zone ID cannot appear in a certificate");
  return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
}

function checkDnsName(name: string): void {
  const base = name.startsWith("*.") ? name.slice(2) : name;
  if (name.length > MAX_DNS_NAME_CHARS) throw invalidName(name, `longer than ${MAX_DNS_NAME_CHARS} characters`);
  const labels = base.split(".");
  for (const label of labels) {
    if (label.length > MAX_DNS_LABEL_CHARS)
      throw invalidName(name, `label "${label}" is over ${MAX_DNS_LABEL_CHARS} characters`);
    if (!LDH_LABEL.test(label)) throw invalidName(name, `label "${label}" is not letters, digits and inner hyphens`);
  }
  // Browsers ignore a wildcard directly under a single label (`*.local`, `*.localhost`): RFC 6125 §7.2 and
  // CA/Browser Forum BR §3.2.2.6. Refuse it here rather than hand out a certificate that never validates.
  if (base !== name && labels.length < 2) throw invalidName(name, "a wildcard needs at least two labels after `*.`");
}

function invalidName(name: string, reason: string): GotunnelError {
  return new GotunnelError("E_DOMAIN_INVALID", `Cannot issue a certificate for "${name}": ${reason}.`, {
    hint: "Use an ASCII host name such as myapp.local (punycode for IDNs), *.myapp.local, or an IP address.",
    details: { name },
  });
}
