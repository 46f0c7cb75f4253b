/** core/local-host.ts: the Host and client-address checks behind the admin port and the 404 page's route list. */
import { describe, expect, test } from "bun:test";
import { hostnameOf, isLoopbackAddress, isLoopbackHost, isUnreboundHost } from "../../src/core/local-host.ts";

describe("hostnameOf", () => {
  test.each([
    ["127.0.0.1:7070", "127.0.0.1"],
    ["[::1]:7070", "::1"],
    ["[::1]", "::1"],
    ["LocalHost", "localhost"],
    ["myapp.local:8443", "myapp.local"],
  ])("%s → %s", (host, name) => expect(hostnameOf(host)).toBe(name));

  test.each(["[::1", "[::1]x", "localhost:http", "a:b:c", "127.0.0.1:123456"])("%s is not a Host", (host) =>
    expect(hostnameOf(host)).toBeUndefined(),
  );
});

describe("isLoopbackHost (the admin port)", () => {
  test.each(["127.0.0.1", "127.0.0.1:7070", "[::1]", "[::1]:7070", "localhost", "localhost:7070", "LOCALHOST:1"])(
    "%s is allowed",
    (host) => expect(isLoopbackHost(host)).toBe(true),
  );

  test.each([
    "evil.example",
    "evil.example:7070",
    "127.0.0.1.nip.io",
    "localhost.evil.example",
    "app.localhost",
    "127.0.0.2",
    "[::2]",
    "192.168.1.5:7070",
    "",
    "localhost:7070@evil",
  ])("%s is refused", (host) => expect(isLoopbackHost(host)).toBe(false));

  test("no Host header is refused", () => expect(isLoopbackHost(null)).toBe(false));
});

describe("isUnreboundHost (names no web site can point at this machine)", () => {
  test.each(["127.0.0.1:8080", "[::1]:443", "10.0.0.5", "localhost", "typo.localhost:8443", "old.local", "old.local."])(
    "%s: yes",
    (host) => expect(isUnreboundHost(host)).toBe(true),
  );

  test.each(["evil.example", "evil.example:80", "myapp.test", "local", "evil.localhost.example", "x.local.example"])(
    "%s: no",
    (host) => expect(isUnreboundHost(host)).toBe(false),
  );
});

describe("isLoopbackAddress", () => {
  test.each(["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"])("%s is loopback", (address) =>
    expect(isLoopbackAddress(address)).toBe(true),
  );

  test.each(["10.0.0.2", "::ffff:10.0.0.2", "fd00::1", "::", "0.0.0.0", "128.0.0.1", "::2"])("%s is not", (address) =>
    expect(isLoopbackAddress(address)).toBe(false),
  );
});
