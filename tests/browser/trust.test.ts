/**
 * The browsers of this tier check certificates for real: the same headless Chromium and Firefox ESR, launched as
 * tests/helpers/browser.ts launches them but without gotunnel's CA in their NSS database, refuse a gotunnel route
 * (unknown issuer); with the CA they load it, over HTTP/2. So a page that loads in vite.test.ts and next.test.ts
 * proves the CA is trusted, not that certificate errors were ignored, and the names resolve through the browser's
 * own rules or prefs (never /etc/hosts, which has no such name).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { eachBrowser, launchBrowser, openTab, pageProtocol } from "../helpers/browser.ts";
import { E2EScope, startEchoRoute } from "../helpers/e2e.ts";

const scope = new E2EScope();
const NAME = "trust-app.local";
let route: Awaited<ReturnType<typeof startEchoRoute>>;

beforeAll(async () => {
  route = await startEchoRoute(scope, NAME, {});
}, 60_000);

afterAll(() => scope.dispose(), 60_000);

/** How each browser names an unknown issuer in a failed navigation. */
const UNTRUSTED = { chromium: "net::ERR_CERT_AUTHORITY_INVALID", firefox: "SEC_ERROR_UNKNOWN_ISSUER" } as const;

eachBrowser((kind) => {
  test("without gotunnel's CA in its NSS database the route is refused (unknown issuer)", async () => {
    const untrusting = await launchBrowser(scope, kind, { caPath: undefined, names: [NAME] });
    const error = await openTab(untrusting, `${route.url}/text`).then(
      () => undefined,
      (thrown: unknown) => String(thrown),
    );
    expect(error).toContain(UNTRUSTED[kind]);
    await untrusting.close();
  }, 120_000);

  test("with the CA in its NSS database the route loads, over h2", async () => {
    const trusting = await launchBrowser(scope, kind, { caPath: route.ca, names: [NAME] });
    const tab = await openTab(trusting, `${route.url}/text`);
    expect(await tab.page.evaluate("document.body.innerText")).toBe("hello from upstream");
    expect(await pageProtocol(tab)).toBe("h2");
    await trusting.close();
  }, 120_000);
});
