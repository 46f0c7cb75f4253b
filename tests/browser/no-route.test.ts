/**
 * A name with no route, in real browsers that check certificates (tests/helpers/browser.ts): a route stopped while
 * its tab is open, and a mistyped name first opened over http://, then show gotunnel's own 404 page over HTTPS, not
 * a certificate-name error (daemon/on-demand.ts, tls/spare.ts).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Browser } from "puppeteer-core";
import { eachBrowser, launchBrowser, PAGE_TIMEOUT_MS } from "../helpers/browser.ts";
import { E2EScope, runGotunnel, startEchoRoute } from "../helpers/e2e.ts";
import { eventually } from "../helpers/netns.ts";

const scope = new E2EScope();
/** One daemon for both browsers: each test uses names of its own. */
let route: Awaited<ReturnType<typeof startEchoRoute>>;
let httpPort = 0;

beforeAll(async () => {
  route = await startEchoRoute(scope, "first.localhost", {});
  const status = await runGotunnel(["status", "--json"], { cwd: route.home, home: route.home });
  httpPort = (JSON.parse(status.stdout) as { ports: { http: number } }).ports.http;
}, 60_000);

afterAll(() => scope.dispose(), 60_000);

/** The status and visible text of `url` in a new tab; a navigation error (a certificate error) throws. */
async function visit(browser: Browser, url: string): Promise<{ status: number | undefined; text: string }> {
  const page = await browser.newPage();
  try {
    const response = await page.goto(url, { timeout: PAGE_TIMEOUT_MS });
    return { status: response?.status(), text: String(await page.evaluate("document.body.innerText")) };
  } finally {
    await page.close();
  }
}

eachBrowser((kind) => {
  test("a stopped route's name shows gotunnel's 404 page over HTTPS", async () => {
    const gone = `gone-${kind}.localhost`;
    const options = { cwd: route.home, home: route.home };
    const started = await runGotunnel(["start", "-d", gone, "-p", String(route.upstream.port)], options);
    expect(started.exitCode).toBe(0);
    const url = `https://${gone}:${new URL(route.url).port}/text`;
    const browser = await launchBrowser(scope, kind, { caPath: route.ca, names: [gone] });
    expect((await visit(browser, url)).text).toBe("hello from upstream");
    expect((await runGotunnel(["stop", gone], options)).exitCode).toBe(0);
    const page = await visit(browser, url);
    expect(page.status).toBe(404);
    expect(page.text).toContain(`No gotunnel route for "${gone}`);
    await browser.close();
  }, 120_000);

  test("a mistyped name opened over http:// then shows the 404 page over HTTPS", async () => {
    const typo = `typo-${kind}.localhost`;
    const browser = await launchBrowser(scope, kind, { caPath: route.ca, names: [typo] });
    expect((await visit(browser, `http://${typo}:${httpPort}/`)).status).toBe(404);
    const https = `https://${typo}:${new URL(route.url).port}/`;
    // The certificate is served once the listener swap that follows its signature is done.
    const page = await eventually(() => visit(browser, https).catch(() => undefined), `${https} loads`, 20_000);
    expect(page.status).toBe(404);
    expect(page.text).toContain(`No gotunnel route for "${typo}`);
    await browser.close();
  }, 120_000);
});
