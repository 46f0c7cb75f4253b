/**
 * Framework refusals (src/frameworks/refusals.ts): each framework's own refusal answer is recognised and gets the
 * exact lines that fix it; other 4xx answers are not. Then forward() with an injected upstream: the client gets the
 * same status with the explanation, and the request's error says which framework refused.
 */
import { describe, expect, test } from "bun:test";
import { detectRefusal, refusalText, type UpstreamAnswer } from "../../src/frameworks/refusals.ts";
import { type ForwardContext, forward } from "../../src/proxy/forward.ts";
import { REFUSAL_BODY_MAX_BYTES } from "../../src/proxy/refusal.ts";
import { route } from "../helpers/proxy.ts";

const answer = (status: number, body: string, path = "/", upgrade = false): UpstreamAnswer => ({
  status,
  body,
  path,
  upgrade,
});

// The bodies as the frameworks write them (vite 8.4.1, next 16.5.0, Django 5, Rails 7, webpack-dev-server 5).
const VITE_BODY =
  'Blocked request. This host ("shop.local") is not allowed.\nTo allow this host, add "shop.local" to `server.allowedHosts` in vite.config.js.';
const DJANGO_BODY =
  "<title>DisallowedHost at /</title> Invalid HTTP_HOST header: &#x27;shop.local&#x27;. You may need to add &#x27;shop.local&#x27; to ALLOWED_HOSTS.";

describe("detectRefusal", () => {
  test.each<[string, UpstreamAnswer, string, string[]]>([
    [
      "Vite's Blocked request",
      answer(403, VITE_BODY),
      "Vite",
      [
        'let gotunnel start it: routes["shop.local"] = { command: "npm run dev" } (gotunnel then allows the name itself)',
        'or in vite.config: server: { allowedHosts: ["shop.local"] }',
      ],
    ],
    [
      "Next's 403 on a /_next/ resource",
      answer(403, "Unauthorized", "/_next/static/chunks/main.js"),
      "Next.js",
      [
        'in gotunnel\'s config: routes["shop.local"].rewriteOrigin = ["/_next/", "/__nextjs"] (set for you when gotunnel starts Next)',
        'or in next.config: allowedDevOrigins: ["shop.local"]',
      ],
    ],
    [
      "Next's bare word on its HMR socket (no status line)",
      answer(0, "Unauthorized", "/_next/hmr?id=1", true),
      "Next.js",
      [
        'in gotunnel\'s config: routes["shop.local"].rewriteOrigin = ["/_next/", "/__nextjs"] (set for you when gotunnel starts Next)',
        'or in next.config: allowedDevOrigins: ["shop.local"]',
      ],
    ],
    [
      "Django's DisallowedHost",
      answer(400, DJANGO_BODY),
      "Django",
      [
        'in settings.py: ALLOWED_HOSTS = ["shop.local"]',
        'or in gotunnel\'s config: routes["shop.local"].preserveHost = false (Django then sees localhost)',
      ],
    ],
    [
      "Rails' host authorization",
      answer(403, "Blocked hosts: shop.local"),
      "Rails",
      [
        'let gotunnel start it (it sets RAILS_DEVELOPMENT_HOSTS): routes["shop.local"] = { command: "bin/rails server" }',
        'or in config/environments/development.rb: config.hosts << "shop.local"',
      ],
    ],
    [
      "webpack-dev-server's Invalid Host header",
      answer(403, "Invalid Host header"),
      "webpack-dev-server",
      [
        'let gotunnel start it (it adds --allowed-hosts): routes["shop.local"] = { command: "npm run dev" }',
        'or in webpack.config.js: devServer: { allowedHosts: ["shop.local"] } (Angular: "allowedHosts" in angular.json\'s serve options)',
      ],
    ],
  ])("%s", (_what, given, framework, fixes) => {
    expect(detectRefusal(given, "shop.local")).toMatchObject({ framework, fixes });
  });

  test.each<[string, UpstreamAnswer]>([
    ["an app's own 403", answer(403, "Forbidden: log in first")],
    ["Next's word on an app path (the app's own 403)", answer(403, "Unauthorized", "/api/me")],
    ["a 404", answer(404, VITE_BODY)],
    ["a plain 400", answer(400, "Bad Request (400)")],
  ])("%s is not a refusal", (_what, given) => {
    expect(detectRefusal(given, "shop.local")).toBeUndefined();
  });

  test("a wildcard route's fix allows every subdomain", () => {
    const refusal = detectRefusal(answer(403, VITE_BODY), "*.shop.local");
    expect(refusal?.fixes[1]).toBe('or in vite.config: server: { allowedHosts: [".shop.local"] }');
    const next = detectRefusal(answer(403, "Unauthorized", "/_next/x"), "*.shop.local");
    expect(next?.fixes[1]).toBe('or in next.config: allowedDevOrigins: ["*.shop.local"]');
  });

  test("refusalText is one line naming the framework, what it refused and the fixes", () => {
    const refusal = detectRefusal(answer(403, VITE_BODY), "shop.local");
    expect(refusalText(refusal!)).toStartWith('Vite refused the host name "shop.local"; fix: let gotunnel start it');
  });
});

describe("forward(): a refusal is explained to the client and logged as the request's error", () => {
  const ctx: ForwardContext = {
    host: "shop.local",
    clientIp: "127.0.0.1",
    proto: "https",
    port: 443,
    via: "1.1 gotunnel-0badf00d",
    clientClose: false,
  };
  const shop = route("shop.local", 5173);
  const viteRefuses = async () =>
    new Response(VITE_BODY, { status: 403, headers: { "content-type": "text/plain", "content-length": "148" } });

  test("curl: the same status, Vite's own text, then gotunnel's explanation", async () => {
    const { response, error } = await forward(new Request("https://shop.local/"), shop, ctx, viteRefuses);
    expect(response.status).toBe(403);
    expect(response.headers.get("x-gotunnel-refused-by")).toBe("Vite");
    const text = await response.text();
    expect(text).toStartWith("Blocked request. This host");
    expect(text).toContain('gotunnel: shop.local: Vite refused the host name "shop.local"');
    expect(text).toContain('server: { allowedHosts: ["shop.local"] }');
    expect(String((error as Error).message)).toStartWith('Vite refused the host name "shop.local"; fix:');
  });

  test("a browser: gotunnel's page with the fixes, still 403", async () => {
    const req = new Request("https://shop.local/", { headers: { accept: "text/html" } });
    const { response } = await forward(req, shop, ctx, viteRefuses);
    expect(response.status).toBe(403);
    expect(response.headers.get("content-type")).toContain("text/html");
    expect(await response.text()).toContain("Fix it with one of:");
  });

  test("any other 403 passes unchanged, body included, with no error", async () => {
    const upstream = async () =>
      new Response("Forbidden: log in first", { status: 403, headers: { "content-length": "23", "x-app": "1" } });
    const { response, error } = await forward(new Request("https://shop.local/"), shop, ctx, upstream);
    expect([response.status, error, response.headers.get("x-app")]).toEqual([403, undefined, "1"]);
    expect(await response.text()).toBe("Forbidden: log in first");
  });

  test("a refusal sent chunked (no Content-Length, as Vite does) is recognised", async () => {
    const upstream = async () => new Response(streamOf([VITE_BODY.slice(0, 20), VITE_BODY.slice(20)]), { status: 403 });
    const { response, error } = await forward(new Request("https://shop.local/"), shop, ctx, upstream);
    expect(response.headers.get("x-gotunnel-refused-by")).toBe("Vite");
    expect(error).toBeDefined();
  });

  test("a 403 larger than the limit streams through whole, unread", async () => {
    const big = "x".repeat(REFUSAL_BODY_MAX_BYTES);
    const upstream = async () => new Response(streamOf(["Blocked request. This host (", big, big]), { status: 403 });
    const { response, error } = await forward(new Request("https://shop.local/"), shop, ctx, upstream);
    expect(error).toBeUndefined();
    expect((await response.text()).length).toBe(28 + 2 * big.length);
  });
});

function streamOf(parts: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const part of parts) controller.enqueue(new TextEncoder().encode(part));
      controller.close();
    },
  });
}
