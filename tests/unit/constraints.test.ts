/**
 * nameConstraints: the hand-written DER against OpenSSL's own encoding of the same constraints, decoding, which
 * names are permitted, and the error a route outside them gets.
 */
import { describe, expect, test } from "bun:test";
import { GotunnelError } from "../../src/core/errors.ts";
import {
  assertPermitted,
  DEFAULT_PERMITTED_IP_RANGES,
  DEFAULT_PERMITTED_SUFFIXES,
  decodeNameConstraints,
  defaultNameConstraints,
  encodeNameConstraints,
  ipBytes,
  isPermitted,
  normalizeSuffix,
} from "../../src/tls/constraints.ts";

/**
 * `openssl req -x509 ... -addext` with nameConstraints=critical,permitted;DNS:local,permitted;DNS:localhost,
 * permitted;IP:127.0.0.0/255.0.0.0,permitted;IP:::1/ffff:...:ffff — the extension value, from `openssl asn1parse`.
 */
const OPENSSL_DER =
  "3048A046300782056C6F63616C300B82096C6F63616C686F7374300A87087F000000FF0000003022872000000000000000000000000000" +
  "000001FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF";

describe("DER", () => {
  test("byte for byte what OpenSSL encodes for the same permitted subtrees", () => {
    const der = encodeNameConstraints({ dnsSuffixes: ["local", "localhost"], ipRanges: ["127.0.0.0/8", "::1/128"] });
    expect(Buffer.from(der).toString("hex").toUpperCase()).toBe(OPENSSL_DER);
  });

  test("decodes OpenSSL's encoding, and round-trips the defaults (long form lengths included)", () => {
    expect(decodeNameConstraints(Buffer.from(OPENSSL_DER, "hex"))).toEqual({
      dnsSuffixes: ["local", "localhost"],
      ipRanges: ["127.0.0.0/8", "::1/128"],
    });
    const defaults = defaultNameConstraints([".dev"]);
    const der = encodeNameConstraints(defaults);
    expect(der.length).toBeGreaterThan(127);
    expect(decodeNameConstraints(der)).toEqual(defaults);
  });

  test("masks the host bits of a range, and rejects a malformed one", () => {
    const der = encodeNameConstraints({ dnsSuffixes: [], ipRanges: ["10.1.2.3/8"] });
    expect(decodeNameConstraints(der).ipRanges).toEqual(["10.0.0.0/8"]);
    expect(() => encodeNameConstraints({ dnsSuffixes: [], ipRanges: ["10.0.0.0/33"] })).toThrow("bad CIDR");
    expect(() => decodeNameConstraints(Uint8Array.of(0x30, 0x05, 0xa0))).toThrow("truncated");
  });
});

describe("which names a constrained CA may sign", () => {
  const constraints = defaultNameConstraints();

  test("the defaults are the special-use suffixes and the private/loopback ranges", () => {
    expect(constraints.dnsSuffixes).toEqual([...DEFAULT_PERMITTED_SUFFIXES]);
    expect(constraints.ipRanges).toEqual(DEFAULT_PERMITTED_IP_RANGES);
    expect(constraints.ipRanges.slice(0, 7)).toEqual([
      "127.0.0.0/8",
      "10.0.0.0/8",
      "172.16.0.0/12",
      "192.168.0.0/16",
      "::1/128",
      "fc00::/7",
      "fe80::/10",
    ]);
  });

  const permitted = [
    "myapp.local",
    "LOCAL",
    "a.b.c.localhost",
    "localhost",
    "*.api.test",
    "nas.home.arpa",
    "svc.internal.",
    "127.0.0.1",
    "127.255.255.254",
    "10.20.30.40",
    "172.31.255.255",
    "192.168.1.10",
    "::1",
    "[::1]",
    "fd12:3456::1",
    "fe80::1",
    "::ffff:127.0.0.1",
    "::ffff:192.168.0.1",
  ];
  const refused = [
    "example.com",
    "local.example.com",
    "mylocal",
    "evil-local",
    "xlocalhost",
    "home.arpa.evil",
    "arpa",
    "8.8.8.8",
    "172.32.0.1",
    "192.169.0.1",
    "128.0.0.1",
    "2001:db8::1",
    "::2",
    "::ffff:8.8.8.8",
  ];
  for (const name of permitted) test(`permits ${name}`, () => expect(isPermitted(name, constraints)).toBe(true));
  for (const name of refused) test(`refuses ${name}`, () => expect(isPermitted(name, constraints)).toBe(false));

  test("a leading dot means subdomains only; no subtree of a type leaves that type unconstrained", () => {
    const foreign = { dnsSuffixes: [".corp.example"], ipRanges: [] };
    expect(isPermitted("a.corp.example", foreign)).toBe(true);
    expect(isPermitted("corp.example", foreign)).toBe(false);
    expect(isPermitted("8.8.8.8", foreign)).toBe(true);
  });

  test("ipBytes expands IPv6, embedded IPv4 included", () => {
    expect([...ipBytes("::ffff:127.0.0.1")]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 127, 0, 0, 1]);
    expect([...ipBytes("fe80::1")]).toEqual([0xfe, 0x80, ...Array(13).fill(0), 1]);
  });
});

describe("suffixes and errors", () => {
  test("normalizeSuffix: leading and trailing dots and case; junk is a usage error", () => {
    expect(normalizeSuffix(".Dev.")).toBe("dev");
    expect(normalizeSuffix("corp.example")).toBe("corp.example");
    for (const junk of ["", ".", "*.dev", "10.0.0.1", "a b", "-dev"]) {
      expect(() => normalizeSuffix(junk)).toThrow(GotunnelError);
    }
    expect(defaultNameConstraints(["dev", ".DEV", "local"]).dnsSuffixes).toEqual([
      ...DEFAULT_PERMITTED_SUFFIXES,
      "dev",
    ]);
  });

  test("a route outside the CA: E_TLS naming it, the permitted suffixes, and `gotunnel ca rotate --allow-suffix`", () => {
    const error = (() => {
      try {
        assertPermitted(["myapp.local", "shop.example.com"], defaultNameConstraints());
      } catch (caught) {
        return caught as GotunnelError;
      }
    })();
    expect(error?.code).toBe("E_TLS");
    expect(error?.exitCode).toBe(5);
    expect(error?.message).toContain('"shop.example.com"');
    expect(error?.message).toContain(".local, .localhost, .test, .internal, .home.arpa");
    expect(error?.hint).toContain("`gotunnel ca rotate --allow-suffix .com`");
    expect(error?.details).toMatchObject({ names: ["shop.example.com"] });
    expect(() => assertPermitted(["8.8.8.8"], defaultNameConstraints())).toThrow("Cannot serve");
    expect(() => assertPermitted(["anything.example"], undefined)).not.toThrow();
  });
});
