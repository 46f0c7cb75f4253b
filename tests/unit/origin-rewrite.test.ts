/**
 * A route's `rewriteOrigin`: on the listed path prefixes, a same-origin request reaches the upstream with the
 * upstream's own origin (what makes Next.js accept /_next/ and its HMR socket on a .local name), and nothing else
 * changes.
 */
import { describe, expect, test } from "bun:test";
import { type ForwardedFacts, type HeaderRoute, routeRequestHeaders } from "../../src/proxy/headers.ts";

const NEXT_PATHS = ["/_next/", "/__nextjs"];
const facts = (host: string, proto: "http" | "https" = "https"): ForwardedFacts => ({
  host,
  clientIp: "127.0.0.1",
  proto,
  port: 443,
  via: "1.1 gotunnel-0badf00d",
});
const route = (rewriteOrigin?: string[], preserveHost = true): HeaderRoute => ({
  target: { hostname: "localhost", port: 3000, origin: "http://localhost:3000" },
  headers: {},
  preserveHost,
  ...(rewriteOrigin ? { rewriteOrigin } : {}),
});

function originSent(origin: string | undefined, path: string, options: { host?: string; rewrite?: string[] } = {}) {
  const incoming = new Headers(origin === undefined ? {} : { origin });
  const pairs = routeRequestHeaders(incoming, facts(options.host ?? "shop.local"), route(options.rewrite), path);
  return {
    origin: pairs.filter(([name]) => name === "origin").map(([, value]) => value),
    host: pairs.find(([name]) => name === "host")?.[1],
  };
}

describe("routeRequestHeaders: rewriteOrigin", () => {
  test.each([
    ["the HMR socket", "/_next/webpack-hmr?id=1"],
    ["Next 16's HMR path", "/_next/hmr"],
    ["a dev overlay endpoint", "/__nextjs_original-stack-frames"],
  ])("on %s, the route's own origin becomes the upstream's", (_what, path) => {
    expect(originSent("https://shop.local", path, { rewrite: NEXT_PATHS })).toEqual({
      origin: ["http://localhost:3000"],
      host: "shop.local",
    });
  });

  test("the origin is compared without case, with the port the browser sent", () => {
    expect(originSent("https://SHOP.local:8443", "/_next/x", { host: "shop.local:8443", rewrite: NEXT_PATHS })).toEqual(
      {
        origin: ["http://localhost:3000"],
        host: "shop.local:8443",
      },
    );
    // Same name, other port: another origin (RFC 6454 §5), left alone.
    expect(
      originSent("https://shop.local:9999", "/_next/x", { host: "shop.local:8443", rewrite: NEXT_PATHS }).origin,
    ).toEqual(["https://shop.local:9999"]);
  });

  test.each([
    ["another site", "https://evil.example", "/_next/webpack-hmr"],
    ["an opaque origin", "null", "/_next/webpack-hmr"],
    ["http:// for an https route", "http://shop.local", "/_next/webpack-hmr"],
    ["a path outside the prefixes (a Server Action compares Origin with Host)", "https://shop.local", "/cart"],
  ])("%s passes unchanged", (_what, origin, path) => {
    expect(originSent(origin, path, { rewrite: NEXT_PATHS }).origin).toEqual([origin]);
  });

  test("no Origin header: none is added", () => {
    expect(originSent(undefined, "/_next/webpack-hmr", { rewrite: NEXT_PATHS }).origin).toEqual([]);
  });

  test("a route without rewriteOrigin (or with []) never touches Origin", () => {
    expect(originSent("https://shop.local", "/_next/webpack-hmr").origin).toEqual(["https://shop.local"]);
    expect(originSent("https://shop.local", "/_next/webpack-hmr", { rewrite: [] }).origin).toEqual([
      "https://shop.local",
    ]);
  });

  test("preserveHost false still sends the target's host:port", () => {
    const pairs = routeRequestHeaders(new Headers(), facts("shop.local"), route(undefined, false), "/");
    expect(pairs.find(([name]) => name === "host")?.[1]).toBe("localhost:3000");
  });
});
