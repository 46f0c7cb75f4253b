/** The proxy's own pages: 404 with the route list, 502, 508 and the HTTP → HTTPS redirect. */
import { describe, expect, test } from "bun:test";
import { badGatewayPage, loopPage, notFoundPage, type PageContext, redirectToHttps } from "../../src/proxy/pages.ts";
import { routeUrl } from "../../src/proxy/router.ts";
import { route } from "../helpers/proxy.ts";

const HTML = { accept: "text/html,application/xhtml+xml,*/*;q=0.8" };
const routes = [route("myapp.local", 3000), route("*.api.local", 4000)];
const ctx: PageContext = { routes, urlOf: (r) => routeUrl(r, { http: 80, https: 8443 }), loopbackClient: true };

function request(url: string, headers: Record<string, string> = {}): Request {
  return new Request(url, { headers });
}

describe("notFoundPage", () => {
  test("plain text for curl: status 404, names the host and lists every route with its target", async () => {
    const response = notFoundPage(request("https://nope.local/"), "nope.local", ctx);
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("x-gotunnel-error")).toBe("404");
    const text = await response.text();
    expect(text).toContain('No gotunnel route for "nope.local"');
    expect(text).toContain("https://myapp.local:8443 → http://127.0.0.1:3000");
    expect(text).toContain("https://api.local:8443 → http://127.0.0.1:4000");
  });

  test("HTML for browsers, with the route list", async () => {
    const response = notFoundPage(request("https://nope.local/", HTML), "nope.local", ctx);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const html = await response.text();
    expect(html).toStartWith("<!doctype html>");
    expect(html).toContain("<title>No gotunnel route for &#34;nope.local&#34;</title>");
    expect(html).toContain("<p>  https://myapp.local:8443 → http://127.0.0.1:3000</p>");
  });

  test("a hostile Host header is escaped everywhere it appears in the HTML", async () => {
    const hostile = `"><script>alert('x')</script><img src=x onerror=alert(1)>&amp;`;
    const html = await notFoundPage(request("https://nope.local/", HTML), hostile, ctx).text();
    expect(html).not.toContain("<script>");
    expect(html).not.toContain("<img");
    expect(html).not.toContain(hostile);
    expect(html.match(/<title>/g)).toHaveLength(1);
    expect(html).toContain("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;");
    expect(html).toContain("&#38;amp;");
  });

  test("a client on another machine gets a plain 404: no route names, no upstreams", async () => {
    for (const accept of [{}, HTML]) {
      const response = notFoundPage(request("https://nope.local/", accept), "nope.local", {
        ...ctx,
        loopbackClient: false,
      });
      expect(response.status).toBe(404);
      const body = await response.text();
      expect(body).toContain("No gotunnel route for");
      expect(body).toContain("gotunnel list");
      for (const secret of ["myapp.local", "api.local", "127.0.0.1:3000", "4000", "Routes served"])
        expect(body).not.toContain(secret);
    }
    const empty = await notFoundPage(request("https://x.local/"), "x.local", {
      ...ctx,
      routes: [],
      loopbackClient: false,
    });
    expect(await empty.text()).not.toContain("No routes are configured");
  });

  test("a loopback client naming a host a web site could rebind to 127.0.0.1 gets the plain 404 too", async () => {
    const rebound = await notFoundPage(request("http://evil.example/"), "evil.example:80", ctx).text();
    expect(rebound).not.toContain("myapp.local");
    for (const host of ["127.0.0.1:8080", "typo.localhost:8443", "old.local", "[::1]:80"]) {
      expect(await notFoundPage(request("http://127.0.0.1/"), host, ctx).text()).toContain("Routes served here:");
    }
  });

  test("with no routes, says how to add one", async () => {
    const text = await notFoundPage(request("https://x.local/"), "x.local", { ...ctx, routes: [] }).text();
    expect(text).toContain("No routes are configured");
    expect(text).toContain("gotunnel start --domain myapp --port 3000");
  });
});

describe("badGatewayPage", () => {
  test("502 naming the route, the upstream origin, the port and the reason", async () => {
    const response = badGatewayPage(request("https://myapp.local/"), routes[0]!, "connection refused");
    expect(response.status).toBe(502);
    expect(response.headers.get("x-gotunnel-error")).toBe("502");
    const text = await response.text();
    expect(text).toContain("myapp.local: the upstream http://127.0.0.1:3000 is not answering");
    expect(text).toContain("(connection refused)");
    expect(text).toContain("listening on port 3000");
    expect(text).toContain('change the target of "myapp.local"');
  });

  test("a client on another machine is not told the upstream's address or port", async () => {
    const text = await badGatewayPage(request("https://myapp.local/"), routes[0]!, "connection refused", false).text();
    expect(text).toContain("myapp.local: the dev server is not answering");
    expect(text).not.toContain("127.0.0.1");
    expect(text).not.toContain("3000");
    expect(await loopPage(request("https://myapp.local/"), routes[0]!, false).text()).not.toContain("3000");
  });

  test("HTML escapes an upstream error message", async () => {
    const html = await badGatewayPage(request("https://myapp.local/", HTML), routes[0]!, "<b>boom</b>").text();
    expect(html).toContain("&#60;b&#62;boom&#60;/b&#62;");
    expect(html).not.toContain("<b>boom");
  });
});

describe("loopPage", () => {
  test("508 explaining the route points back at the proxy", async () => {
    const response = loopPage(request("https://myapp.local/"), routes[0]!);
    expect(response.status).toBe(508);
    expect(await response.text()).toContain("myapp.local: request loop detected");
  });
});

describe("redirectToHttps", () => {
  function location(url: string, host: string, httpsPort: number): string | null {
    const response = redirectToHttps(request(url), host, httpsPort);
    expect(response.status).toBe(308);
    return response.headers.get("location");
  }

  test("308 to the same path and query on the HTTPS port", () => {
    expect(location("http://myapp.local:8080/a/b?x=1&y=%20", "myapp.local:8080", 8443)).toBe(
      "https://myapp.local:8443/a/b?x=1&y=%20",
    );
  });

  test("the default HTTPS port 443 is left out of the Location", () => {
    expect(location("http://myapp.local/login?next=/", "myapp.local", 443)).toBe("https://myapp.local/login?next=/");
    expect(location("http://myapp.local:8080/", "myapp.local:8080", 443)).toBe("https://myapp.local/");
  });

  test("a bare root and a bracketed IPv6 host", () => {
    expect(location("http://myapp.local:8080", "myapp.local:8080", 8443)).toBe("https://myapp.local:8443/");
    expect(location("http://[::1]:8080/p?q", "[::1]:8080", 8443)).toBe("https://[::1]:8443/p?q");
  });

  test("a path that looks like a scheme-relative URL stays a path on our host", () => {
    expect(location("http://myapp.local//evil.example/x", "myapp.local", 443)).toBe(
      "https://myapp.local//evil.example/x",
    );
  });

  test("an origin-form req.url (Bun's, for a Host that is not a valid authority) keeps its whole path", () => {
    const originForm = { url: "/p/q?x=1", headers: new Headers() } as Request;
    const response = redirectToHttps(originForm, "myapp.local:<x>", 8443);
    expect(response.headers.get("location")).toBe("https://myapp.local:8443/p/q?x=1");
  });

  test("keeps the method and body semantics: 308, not 301/302", () => {
    const response = redirectToHttps(new Request("http://a.local/form", { method: "POST", body: "x" }), "a.local", 443);
    expect(response.status).toBe(308);
    expect(response.body).toBeNull();
  });
});
