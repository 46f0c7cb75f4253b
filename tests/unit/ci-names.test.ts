/**
 * The pure parts of `gotunnel run`'s name hooks (src/daemon/ci/): which names are ours, how the preload option is
 * added to NODE_OPTIONS/BUN_OPTIONS, NO_PROXY, and the generated .curlrc. The hooks themselves run in real Node, Bun,
 * Python and curl in tests/e2e/run-names.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { curlrcSource, userCurlrc } from "../../src/daemon/ci/curl.ts";
import { connectAddress, matchesRouteName, routeNames, typedNames } from "../../src/daemon/ci/names.ts";
import { preloadSource } from "../../src/daemon/ci/preload.ts";
import { sitecustomizeSource } from "../../src/daemon/ci/python.ts";
import { noProxyEnv, withOption } from "../../src/daemon/ci/resolve.ts";
import { parseTarget } from "../../src/daemon/ci/tunnel.ts";

const names = routeNames([
  { name: "myapp.local", wildcard: false },
  { name: "*.shop.local", wildcard: true },
  { name: "docs.test", wildcard: true },
]);

describe("route names", () => {
  test("exact names, wildcard suffixes, and the names a client types", () => {
    expect(names).toEqual({ exact: ["myapp.local"], suffixes: [".shop.local", ".docs.test"] });
    expect(typedNames(names)).toEqual(["myapp.local", "shop.local", "docs.test"]);
  });

  test.each([
    ["myapp.local", true],
    ["MyApp.Local.", true],
    ["api.shop.local", true],
    ["a.b.shop.local", true],
    ["shop.local", true],
    ["x.docs.test", true],
    ["other.local", false],
    ["myapp.local.evil.com", false],
    ["notshop.local", false],
    ["localhost", false],
    ["", false],
  ])("%p is ours: %p", (host, expected) => {
    expect(matchesRouteName(names, host)).toBe(expected);
  });

  test("only strings can be ours (Node passes what the caller gave)", () => {
    expect(matchesRouteName(names, undefined)).toBe(false);
    expect(matchesRouteName(names, 42)).toBe(false);
  });

  test("names point at the bind address, or loopback for a wildcard bind", () => {
    expect(connectAddress("0.0.0.0")).toBe("127.0.0.1");
    expect(connectAddress("::")).toBe("127.0.0.1");
    expect(connectAddress("::1")).toBe("::1");
    expect(connectAddress("127.0.0.1")).toBe("127.0.0.1");
  });
});

describe("NODE_OPTIONS / BUN_OPTIONS", () => {
  test("the option is one token, appended to what the user set", () => {
    expect(withOption(undefined, "--require=/tmp/x/p.cjs")).toBe("--require=/tmp/x/p.cjs");
    expect(withOption("  ", "--require=/tmp/x/p.cjs")).toBe("--require=/tmp/x/p.cjs");
    expect(withOption("--max-old-space-size=4096", "--require=/tmp/x/p.cjs")).toBe(
      "--max-old-space-size=4096 --require=/tmp/x/p.cjs",
    );
  });

  test("a path with a space, quote or backslash is double-quoted with \\ escapes", () => {
    expect(withOption(undefined, "--preload=/tmp/a b/p.cjs")).toBe('"--preload=/tmp/a b/p.cjs"');
    expect(withOption(undefined, 'C:\\Users\\J "Q"\\p.cjs')).toBe('"C:\\\\Users\\\\J \\"Q\\"\\\\p.cjs"');
  });
});

describe("NO_PROXY", () => {
  test("untouched without a proxy variable", () => {
    expect(noProxyEnv({ NO_PROXY: "corp" }, ["myapp.local"])).toEqual({});
  });

  test("with one, our names join the user's list in both spellings", () => {
    expect(noProxyEnv({ https_proxy: "http://proxy:3128", NO_PROXY: "corp" }, ["myapp.local", "shop.local"])).toEqual({
      NO_PROXY: "corp,myapp.local,shop.local",
      no_proxy: "corp,myapp.local,shop.local",
    });
    expect(noProxyEnv({ HTTP_PROXY: "http://proxy:3128" }, ["myapp.local"])).toEqual({
      NO_PROXY: "myapp.local",
      no_proxy: "myapp.local",
    });
  });
});

describe(".curlrc", () => {
  test("curl's own search order decides which user config is included", () => {
    const present = (paths: string[]) => (path: string) => paths.includes(path);
    const env = { CURL_HOME: "/c", XDG_CONFIG_HOME: "/x", HOME: "/h" };
    expect(userCurlrc(env, present(["/h/.curlrc", "/x/.curlrc"]))).toBe("/x/.curlrc");
    expect(userCurlrc(env, present(["/h/.config/curlrc"]))).toBeUndefined(); // XDG_CONFIG_HOME set: not looked at
    expect(userCurlrc({ HOME: "/h" }, present(["/h/.config/curlrc"]))).toBe("/h/.config/curlrc");
    expect(userCurlrc({ HOME: "/h" }, present([]))).toBeUndefined();
  });

  test("the user's config first, then one resolve line per name and port", () => {
    const text = curlrcSource({
      names: ["myapp.local", "shop.local"],
      ports: [8443, 8080, 8443],
      address: "::1",
      include: '/h/my "rc"',
    });
    expect(text.split("\n").slice(1)).toEqual([
      'config = "/h/my \\"rc\\""',
      "resolve = myapp.local:8443:[::1]",
      "resolve = myapp.local:8080:[::1]",
      "resolve = shop.local:8443:[::1]",
      "resolve = shop.local:8080:[::1]",
      "",
    ]);
  });
});

describe("generated sources carry the names as data", () => {
  test("the Node/Bun preload calls the resolver with the names, the address and the tunnel", () => {
    const source = preloadSource({ ...names, address: "127.0.0.1", proxy: "http://127.0.0.1:1234", noProxy: {} });
    expect(source).toContain('"exact":["myapp.local"]');
    expect(source).toContain('"proxy":"http://127.0.0.1:1234"');
    expect(source).toContain("(require, names, matches);");
  });

  test("the sitecustomize gets the data as Python literals", () => {
    const source = sitecustomizeSource(names, "127.0.0.1");
    expect(source).toContain('_gotunnel_resolve_names(["myapp.local"], [".shop.local",".docs.test"], "127.0.0.1")');
  });
});

describe("tunnel request heads", () => {
  test.each([
    ["CONNECT myapp.local:8443 HTTP/1.1\r\nHost: myapp.local:8443\r\n\r\n", "myapp.local", 8443, true],
    ["CONNECT [::1]:443 HTTP/1.1\r\n\r\n", "::1", 443, true],
    ["GET http://myapp.local:8080/a?b HTTP/1.1\r\n\r\n", "myapp.local", 8080, false],
    ["GET http://myapp.local/ HTTP/1.1\r\n\r\n", "myapp.local", 80, false],
  ])("%p", (head, host, port, connect) => {
    expect(parseTarget(head)).toEqual({ host, port, connect });
  });

  test.each([
    "GET /origin-form HTTP/1.1\r\n\r\n",
    "GET https://myapp.local/ HTTP/1.1\r\n\r\n",
    "CONNECT myapp.local HTTP/1.1\r\n\r\n",
    "garbage\r\n\r\n",
  ])("refused: %p", (head) => {
    expect(parseTarget(head)).toBeUndefined();
  });
});
