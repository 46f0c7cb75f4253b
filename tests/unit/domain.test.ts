import { describe, expect, test } from "bun:test";
import { checkDomain, MAX_LABEL_CHARS, normalizeDomain, parseTarget } from "../../src/config/domain.ts";
import { GotunnelError } from "../../src/core/errors.ts";

function rejection(input: string): GotunnelError {
  try {
    normalizeDomain(input);
  } catch (error) {
    if (error instanceof GotunnelError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe("normalizeDomain accepts and normalizes", () => {
  test.each([
    ["myapp.local", "myapp.local"],
    ["api.myapp.local", "api.myapp.local"],
    ["MyApp.Local", "myapp.local"],
    ["demo", "demo.local"],
    ["my-app2", "my-app2.local"],
    ["app.test", "app.test"],
    ["bücher.local", "xn--bcher-kva.local"],
    ["bücher", "xn--bcher-kva.local"],
    ["☃.local", "xn--n3h.local"],
  ])("%j → %j", (input, name) => {
    expect(normalizeDomain(input)).toEqual({ name, wildcard: false });
  });

  test("a leading *. marks a wildcard and keeps the prefix; a dotless rest gets .local", () => {
    expect(normalizeDomain("*.myapp.local")).toEqual({ name: "*.myapp.local", wildcard: true });
    expect(normalizeDomain("*.Demo")).toEqual({ name: "*.demo.local", wildcard: true });
  });

  test("a 63-character label and a 253-character name are at the limit and accepted", () => {
    const label63 = "a".repeat(MAX_LABEL_CHARS);
    expect(normalizeDomain(`${label63}.local`).name).toBe(`${label63}.local`);
    const name253 = [label63, label63, label63, "b".repeat(61)].join(".");
    expect(name253).toHaveLength(253);
    expect(normalizeDomain(name253).name).toBe(name253);
  });
});

describe("normalizeDomain rejects names that must never reach the hosts file", () => {
  test.each([
    ["my app.local", "it contains a space at position 3"],
    ["myapp.local ", "it has leading or trailing whitespace"],
    [" myapp.local", "it has leading or trailing whitespace"],
    ["my\tapp.local", "it contains a tab at position 3"],
    ["my\napp.local", "it contains a newline at position 3"],
    ["a\r.local", "it contains a carriage return"],
    ["a\u0000b.local", "a control character (U+0000)"],
    ["a\u00a0b.local", "whitespace (U+00A0)"],
    ["my#app.local", 'it contains "#" at position 3 (it starts a comment in the hosts file)'],
    ["myapp.local/x", 'a slash "/"'],
    ["myapp.local:3000", 'it contains ":" at position 12 (put the port in the route target'],
    ["me@myapp.local", 'it contains "@"'],
    ["under_score.local", 'it contains an underscore "_" at position 6 (RFC 1123'],
    ["a!b.local", 'it contains "!"'],
    ["a..b", "it has an empty label (two dots in a row)"],
    [".myapp.local", "it starts with a dot"],
    ["myapp.local.", "it ends with a dot"],
    ["-a.local", 'label "-a" starts with a hyphen'],
    ["a-.local", 'label "a-" ends with a hyphen'],
    ["", "it is empty"],
    ["*", '"*" is only allowed as the whole first label'],
    ["a.*.local", '"*" is only allowed as the whole first label'],
    ["*.", "the name after the wildcard is empty"],
    ["127.0.0.1", 'the last label "1" is numeric'],
    ["foo.0x10", 'the last label "0x10" is numeric'],
    ["xn--a.local", "not a valid internationalized domain name"],
  ])("%j: %s", (input, reason) => {
    const error = rejection(input);
    expect(error.code).toBe("E_DOMAIN_INVALID");
    expect(error.message).toContain(JSON.stringify(input));
    expect(error.message).toContain(reason);
    expect(error.hint).toContain('"myapp.local"');
  });

  test("a 64-character label is rejected with its length and the RFC limit", () => {
    const label = "a".repeat(MAX_LABEL_CHARS + 1);
    const error = rejection(`${label}.local`);
    expect(error.message).toContain(`label "${label}" is 64 characters long; the limit is 63 (RFC 1035`);
  });

  test("a name longer than 253 characters is rejected", () => {
    const label = "a".repeat(MAX_LABEL_CHARS);
    const error = rejection([label, label, label, "b".repeat(62)].join("."));
    expect(error.message).toContain("it is 254 characters long; the limit is 253");
  });

  test("the message shows control characters escaped, so the user can see them", () => {
    expect(rejection("a\nb").message).toStartWith('Invalid domain name "a\\nb": ');
  });

  test("checkDomain returns the same verdict without throwing", () => {
    expect(checkDomain("demo")).toEqual({ ok: true, value: { name: "demo.local", wildcard: false } });
    expect(checkDomain("a b")).toEqual({ ok: false, reason: "it contains a space at position 2" });
  });
});

describe("parseTarget", () => {
  test.each([
    ["3000", { protocol: "http:", hostname: "localhost", port: 3000, origin: "http://localhost:3000" }],
    ["localhost:3000", { protocol: "http:", hostname: "localhost", port: 3000, origin: "http://localhost:3000" }],
    [
      "http://127.0.0.1:8080",
      { protocol: "http:", hostname: "127.0.0.1", port: 8080, origin: "http://127.0.0.1:8080" },
    ],
    [
      "http://127.0.0.1:8080/",
      { protocol: "http:", hostname: "127.0.0.1", port: 8080, origin: "http://127.0.0.1:8080" },
    ],
    [
      "https://localhost:8443",
      { protocol: "https:", hostname: "localhost", port: 8443, origin: "https://localhost:8443" },
    ],
    ["https://localhost", { protocol: "https:", hostname: "localhost", port: 443, origin: "https://localhost" }],
    ["http://[::1]:3000", { protocol: "http:", hostname: "::1", port: 3000, origin: "http://[::1]:3000" }],
    ["[::1]:3000", { protocol: "http:", hostname: "::1", port: 3000, origin: "http://[::1]:3000" }],
    ["localhost:80", { protocol: "http:", hostname: "localhost", port: 80, origin: "http://localhost" }],
  ])("%j", (input, expected) => {
    expect(parseTarget(input)).toEqual(expected as ReturnType<typeof parseTarget>);
  });

  test.each([
    ["http://127.0.0.1:8080/api", 'the URL has a path "/api"'],
    ["http://127.0.0.1:8080/?a=1", "the URL has a query string"],
    ["http://127.0.0.1:8080?", "the URL has a query string"],
    ["http://127.0.0.1:8080#top", "the URL has a fragment"],
    ["http://user:pw@127.0.0.1:8080", "the URL contains credentials"],
    ["ftp://127.0.0.1", 'the scheme is "ftp:"'],
    ["localhost:70000", "port 70000 is out of range; expected 1 to 65535"],
    ["70000", "port 70000 is out of range"],
    ["0", "port 0 is out of range"],
    ["http://localhost:0", "port 0 is out of range"],
    ["", "expected a port or a URL"],
    [" 3000", "leading or trailing whitespace"],
    ["http://", "is not a valid URL"],
    ["abc", 'a target without a scheme needs a port, e.g. "localhost:3000" or "http://abc"'],
  ])("%j is rejected: %s", (input, reason) => {
    const result = parseTarget(input);
    expect(typeof result).toBe("string");
    expect(result as string).toContain(reason);
  });
});
