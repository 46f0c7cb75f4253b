import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { caCertificate, type OnboardingContext, onboardingResponse } from "../../src/onboarding/index.ts";
import { platformOf } from "../../src/onboarding/page.ts";

let dir: string;
let context: OnboardingContext;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gotunnel-onboarding-"));
  const { loadOrCreateCA } = await (await import("../../src/tls/load.ts")).loadTls();
  const { ca } = await loadOrCreateCA(join(dir, "ca"));
  context = { caPem: ca.certPem, caName: ca.commonName, urls: ["https://myapp.local/"], permittedSuffixes: ["local"] };
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const get = (path: string, init: RequestInit = {}) =>
  onboardingResponse(new Request(`http://192.168.1.20${path}`, init), context);

describe("onboardingResponse routing", () => {
  test("paths outside /_gotunnel/ are not ours", () => {
    for (const path of ["/", "/_gotunnelx", "/api/_gotunnel/", "/favicon.ico"]) expect(get(path)).toBeUndefined();
  });

  test("/_gotunnel redirects to the directory; unknown files are 404; only GET and HEAD", async () => {
    expect(get("/_gotunnel")?.status).toBe(308);
    expect(get("/_gotunnel")?.headers.get("location")).toBe("/_gotunnel/");
    expect(get("/_gotunnel/../etc/passwd")).toBeUndefined();
    expect(get("/_gotunnel/rootCA-key.pem")?.status).toBe(404);
    const post = get("/_gotunnel/", { method: "POST" });
    expect(post?.status).toBe(405);
    expect(post?.headers.get("allow")).toBe("GET, HEAD");
  });

  test.each([
    ["gotunnel-ca.pem", "application/x-pem-file"],
    ["gotunnel-ca.crt", "application/x-x509-ca-cert"],
    ["gotunnel-ca.mobileconfig", "application/x-apple-aspen-config"],
  ])("%s is served as %s, as an attachment, never cached", (file, type) => {
    const response = get(`/_gotunnel/${file}`);
    expect(response?.status).toBe(200);
    expect(response?.headers.get("content-type")).toBe(type);
    expect(response?.headers.get("content-disposition")).toBe(`attachment; filename="${file}"`);
    expect(response?.headers.get("cache-control")).toBe("no-store");
  });

  test("the .crt is the DER and the .pem the PEM of the CA", async () => {
    const der = new Uint8Array(await get("/_gotunnel/gotunnel-ca.crt")!.arrayBuffer());
    expect(Buffer.from(der).equals(Buffer.from(caCertificate(context.caPem).der))).toBe(true);
    expect(await get("/_gotunnel/gotunnel-ca.pem")!.text()).toBe(caCertificate(context.caPem).pem);
  });

  test("HEAD has the headers and no body", async () => {
    const response = get("/_gotunnel/gotunnel-ca.crt", { method: "HEAD" });
    expect(response?.status).toBe(200);
    expect(await response?.text()).toBe("");
  });
});

describe("the page", () => {
  test("instructions for every OS, the fingerprint, the routes, the scope and a QR code of itself", async () => {
    const response = get("/_gotunnel/")!;
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
    const html = await response.text();
    for (const id of ["ios", "android", "macos", "windows", "linux"]) expect(html).toContain(`<details id="${id}"`);
    expect(html).toContain(caCertificate(context.caPem).fingerprintSha256);
    expect(html).toContain('href="https://myapp.local/"');
    expect(html).toContain('href="/_gotunnel/gotunnel-ca.mobileconfig"');
    expect(html).toContain("<code>.local</code>");
    expect(html).toContain("<svg");
    expect(html).not.toContain("<script");
  });

  test("the section for the visitor's OS is open", async () => {
    const iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";
    const html = await get("/_gotunnel/", { headers: { "user-agent": iphone } })!.text();
    expect(html).toContain('<details id="ios" open>');
    expect(html.match(/ open>/g)).toHaveLength(1);
  });

  test("text from the CA name and route URLs is escaped", async () => {
    const evil = { ...context, caName: "<img src=x onerror=alert(1)>", urls: ['https://a.local/"><script>'] };
    const html = await onboardingResponse(new Request("http://h/_gotunnel/"), evil)!.text();
    expect(html).not.toContain("<img src=x");
    expect(html).not.toContain('"><script>');
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;");
  });

  test.each([
    ["Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/126 Mobile", "android"],
    ["Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X)", "ios"],
    ["Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Safari/605", "macos"],
    ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126", "windows"],
    ["Mozilla/5.0 (X11; Linux x86_64) Firefox/128", "linux"],
    ["curl/8.5.0", undefined],
  ])("%s → %s", (agent, platform) => {
    expect(platformOf(agent)).toBe(platform as ReturnType<typeof platformOf>);
  });
});
