import { describe, expect, test } from "bun:test";
import { resolveConfig } from "../../src/config/load.ts";
import { closest, configDefaults, defineConfig, type GotunnelConfig } from "../../src/config/schema.ts";
import { ExitCode, GotunnelError } from "../../src/core/errors.ts";

const SOURCE = "/project/gotunnel.config.ts";

function invalid(input: unknown): GotunnelError {
  try {
    resolveConfig(input, SOURCE);
  } catch (error) {
    if (error instanceof GotunnelError) return error;
    throw error;
  }
  throw new Error("expected the config to be rejected");
}

/** The problem lines of an E_CONFIG_INVALID message (the first line is the summary). */
function problems(error: GotunnelError): string[] {
  return error.message
    .split("\n")
    .slice(1)
    .map((line) => line.trim());
}

describe("resolveConfig: valid input", () => {
  test("an empty object gives the documented defaults and no routes", () => {
    expect(resolveConfig({}, SOURCE)).toEqual({
      routes: [],
      proxy: { httpPort: 80, httpsPort: 443, host: "127.0.0.1" },
      log: { format: "text", level: "info" },
      observability: { environment: "development" },
      notify: [],
      discovery: {},
    });
    expect(configDefaults()).toEqual({
      proxy: { httpPort: 80, httpsPort: 443, host: "127.0.0.1" },
      log: { format: "text", level: "info" },
      observability: { environment: "development" },
      notify: [],
      discovery: {},
    });
  });

  test("every route form resolves to a full route with defaults", () => {
    const config = resolveConfig(
      {
        routes: {
          demo: 3000,
          "api.myapp.local": { target: "https://localhost:8443", https: false, headers: { "x-a": "1" } },
          "*.wild.local": { target: 4000, preserveHost: false },
          "str.local": "localhost:5000",
        },
      },
      SOURCE,
    );
    expect(config.routes).toEqual([
      {
        name: "demo.local",
        wildcard: false,
        target: { protocol: "http:", hostname: "localhost", port: 3000, origin: "http://localhost:3000" },
        https: true,
        headers: {},
        preserveHost: true,
      },
      {
        name: "api.myapp.local",
        wildcard: false,
        target: { protocol: "https:", hostname: "localhost", port: 8443, origin: "https://localhost:8443" },
        https: false,
        headers: { "x-a": "1" },
        preserveHost: true,
      },
      {
        name: "*.wild.local",
        wildcard: true,
        target: { protocol: "http:", hostname: "localhost", port: 4000, origin: "http://localhost:4000" },
        https: true,
        headers: {},
        preserveHost: false,
      },
      {
        name: "str.local",
        wildcard: false,
        target: { protocol: "http:", hostname: "localhost", port: 5000, origin: "http://localhost:5000" },
        https: true,
        headers: {},
        preserveHost: true,
      },
    ]);
  });

  test("proxy ports accept 0 (ephemeral) and 65535; log accepts json/debug", () => {
    const config = resolveConfig(
      { proxy: { httpPort: 0, httpsPort: 65535, host: "::1" }, log: { format: "json", level: "debug" } },
      SOURCE,
    );
    expect(config.proxy).toEqual({ httpPort: 0, httpsPort: 65535, host: "::1" });
    expect(config.log).toEqual({ format: "json", level: "debug" });
  });

  test("IDN route names become punycode", () => {
    expect(resolveConfig({ routes: { "bücher.local": 3000 } }, SOURCE).routes[0]?.name).toBe("xn--bcher-kva.local");
  });
});

describe("resolveConfig: invalid input is rejected with file, field path, found value and what is valid", () => {
  test("error shape: code, exit code, file and hint", () => {
    const error = invalid({ proxy: { httpPort: 70000 } });
    expect(error.code).toBe("E_CONFIG_INVALID");
    expect(error.exitCode).toBe(ExitCode.config);
    expect(problems(error)).toEqual([
      `${SOURCE}: proxy.httpPort: expected an integer port from 0 to 65535 (found 70000)`,
    ]);
    expect(error.hint).toContain('defineConfig({ routes: { "myapp.local": 3000');
  });

  test.each([
    [{ proxy: { httpsPort: "abc" } }, 'proxy.httpsPort: expected an integer port from 0 to 65535 (found "abc")'],
    [{ proxy: { httpPort: 80.5 } }, "proxy.httpPort: expected an integer port from 0 to 65535 (found 80.5)"],
    [{ proxy: { httpPort: -1 } }, "proxy.httpPort: expected an integer port from 0 to 65535 (found -1)"],
    [{ proxy: { host: "bad host" } }, "proxy.host: expected an IP address or host name to listen on"],
    [
      { proxy: [] },
      "proxy: expected an object { httpPort, httpsPort, adminPort, host, keepAliveTimeout, clientBodyTimeout, http2 } (found [])",
    ],
    [
      { proxy: { keepAliveTimeout: 256 } },
      "proxy.keepAliveTimeout: expected a whole number of seconds from 0 to 255 (0: no timeout) (found 256)",
    ],
    [
      { proxy: { clientBodyTimeout: 1.5 } },
      "proxy.clientBodyTimeout: expected a whole number of seconds from 0 to 86400 (0: no timeout) (found 1.5)",
    ],
    [{ proxy: { http2: "no" } }, 'proxy.http2: expected true or false (found "no")'],
    [{ log: { format: "xml" } }, 'log.format: expected "text" or "json" (found "xml")'],
    [{ log: { level: "trace" } }, 'log.level: expected "info" or "debug" (found "trace")'],
    [{ routes: { a: 70000 } }, "routes.a: expected an integer port from 1 to 65535 (found 70000)"],
    [{ routes: { a: 0 } }, "routes.a: expected an integer port from 1 to 65535 (found 0)"],
    [
      { routes: { a: "abc" } },
      'routes.a: a target without a scheme needs a port, e.g. "localhost:3000" or "http://abc" (found "abc")',
    ],
    [{ routes: { a: "http://" } }, "routes.a: the target is not a valid URL"],
    [{ routes: { a: true } }, "routes.a: expected a port, a URL"],
    [{ routes: { a: null } }, "routes.a: expected a port, a URL"],
    [{ routes: { a: {} } }, "routes.a.target: is required: a port or a URL, e.g. { target: 3000 }"],
    [{ routes: { a: { target: false } } }, "routes.a.target: expected a port or a URL, e.g. 3000"],
    [{ routes: { a: { target: 3000, https: "yes" } } }, 'routes.a.https: expected true or false (found "yes")'],
    [{ routes: { a: { target: 3000, headers: { "x y": "1" } } } }, 'routes.a.headers["x y"]: expected a header name'],
    [
      { routes: { a: { target: 3000, headers: { x: "1\r\nEvil: 1" } } } },
      "routes.a.headers.x: expected a header value without CR, LF or NUL",
    ],
    [
      { routes: { a: { target: 3000, headers: { x: 1 } } } },
      "routes.a.headers.x: expected a string header value (found 1)",
    ],
    [
      { routes: { "api.myapp.local": { target: "http://127.0.0.1:8080/api" } } },
      'routes["api.myapp.local"].target: the URL has a path "/api"; a target is scheme://host:port only, e.g. "http://127.0.0.1:8080" (found "http://127.0.0.1:8080/api")',
    ],
    [{ routes: [] }, 'routes: expected an object of route names, e.g. { "myapp.local": 3000 } (found [])'],
    [
      [],
      "(top level): expected an object with routes, proxy, log, observability, lan, notify, discovery and profiles (found [])",
    ],
    [
      "routes",
      '(top level): expected an object with routes, proxy, log, observability, lan, notify, discovery and profiles (found "routes")',
    ],
  ])("%j", (input, line) => {
    expect(problems(invalid(input))).toEqual([expect.stringContaining(`${SOURCE}: ${line}`)]);
  });

  test("unknown keys are rejected with a did-you-mean suggestion when one is close", () => {
    const lines = problems(
      invalid({ route: {}, proxy: { hots: "x", http_port: 1 }, routes: { a: { target: 1, htps: true, prot: 2 } } }),
    );
    expect(lines).toEqual([
      `${SOURCE}: proxy.hots: unknown key. Did you mean "host"? Valid keys: httpPort, httpsPort, adminPort, host, keepAliveTimeout, clientBodyTimeout, http2`,
      `${SOURCE}: proxy.http_port: unknown key. Did you mean "httpPort"? Valid keys: httpPort, httpsPort, adminPort, host, keepAliveTimeout, clientBodyTimeout, http2`,
      `${SOURCE}: route: unknown key. Did you mean "routes"? Valid keys: version, routes, proxy, log, observability, lan, notify, discovery, profiles`,
      `${SOURCE}: routes.a.htps: unknown key. Did you mean "https"? Valid keys: target, targets, policy, health, https, headers, preserveHost, lan, rewriteOrigin, command, cwd, env, port, waitTimeout`,
      `${SOURCE}: routes.a.prot: unknown key. Did you mean "port"? Valid keys: target, targets, policy, health, https, headers, preserveHost, lan, rewriteOrigin, command, cwd, env, port, waitTimeout`,
    ]);
  });

  test("bad route names are reported with the exact reason, and all issues come at once", () => {
    const lines = problems(
      invalid({
        routes: {
          "my app": 1,
          "a#b": 1,
          "a\nb": 1,
          "a..b": 1,
          "-a.local": 1,
          [`${"x".repeat(64)}.local`]: 1,
          under_score: 1,
          ok: 70000,
        },
      }),
    );
    expect(lines).toHaveLength(8);
    expect(lines).toContain(`${SOURCE}: routes["my app"]: invalid route name: it contains a space at position 3`);
    expect(lines).toContain(
      `${SOURCE}: routes["a#b"]: invalid route name: it contains "#" at position 2 (it starts a comment in the hosts file)`,
    );
    expect(lines).toContain(`${SOURCE}: routes["a\\nb"]: invalid route name: it contains a newline at position 2`);
    expect(lines).toContain(`${SOURCE}: routes["a..b"]: invalid route name: it has an empty label (two dots in a row)`);
    expect(lines).toContain(`${SOURCE}: routes["-a.local"]: invalid route name: label "-a" starts with a hyphen`);
    expect(lines.some((line) => line.includes("is 64 characters long; the limit is 63"))).toBe(true);
    expect(lines.some((line) => line.startsWith(`${SOURCE}: routes.under_score: invalid route name`))).toBe(true);
    expect(lines).toContain(`${SOURCE}: routes.ok: expected an integer port from 1 to 65535 (found 70000)`);
  });

  test("two names that normalize to the same route are an error", () => {
    expect(problems(invalid({ routes: { Demo: 3000, "demo.local": 4000 } }))).toEqual([
      `${SOURCE}: routes["demo.local"]: same route as routes["Demo"] (both mean "demo.local"); keep one`,
    ]);
  });
});

describe("closest", () => {
  test("suggests only plausible typos", () => {
    expect(closest("route", ["routes", "proxy", "log"])).toBe("routes");
    expect(closest("PROXY", ["routes", "proxy", "log"])).toBe("proxy");
    expect(closest("preserve_host", ["target", "preserveHost"])).toBe("preserveHost");
    expect(closest("banana", ["routes", "proxy", "log"])).toBeUndefined();
  });
});

describe("defineConfig", () => {
  test("returns its argument unchanged", () => {
    const config = { routes: { "myapp.local": 3000 } };
    expect(defineConfig(config)).toBe(config);
  });

  test("its type accepts every documented form and rejects wrong ones (checked by tsc)", () => {
    const ok: GotunnelConfig = {
      routes: {
        a: 3000,
        b: "http://127.0.0.1:8080",
        c: { target: 1, https: false, headers: { x: "y" }, preserveHost: false },
      },
      proxy: { httpPort: 0, httpsPort: 8443, host: "0.0.0.0" },
      log: { format: "json", level: "debug" },
      version: 2,
      notify: [{ url: "https://hooks.example.com/x", secret: "0123456789abcdef", events: ["route.up"] }],
      profiles: { demo: { routes: { a: { target: 3001 }, d: 4000 }, lan: false } },
    };
    // @ts-expect-error a profile's routes are checked like the file's
    const badProfile: GotunnelConfig = { profiles: { demo: { routes: { a: { target: true } } } } };
    // @ts-expect-error webhook events are the documented names
    const badEvent: GotunnelConfig = { notify: [{ url: "https://x", secret: "0123456789abcdef", events: ["up"] }] };
    // @ts-expect-error log.format must be "text" or "json"
    const badFormat: GotunnelConfig = { log: { format: "xml" } };
    // @ts-expect-error a route target cannot be a boolean
    const badTarget: GotunnelConfig = { routes: { a: { target: true } } };
    // @ts-expect-error proxy ports are numbers
    const badPort: GotunnelConfig = { proxy: { httpPort: "80" } };
    expect([ok, badFormat, badTarget, badPort, badProfile, badEvent].map((config) => typeof config)).toEqual([
      "object",
      "object",
      "object",
      "object",
      "object",
      "object",
    ]);
  });
});
