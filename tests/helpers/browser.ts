/**
 * Real browsers for tests/browser: Debian's headless Chromium (driven over CDP) and Firefox ESR (over WebDriver
 * BiDi), both through the pinned puppeteer-core. Each launch gets a fresh temp profile whose NSS database trusts
 * gotunnel's CA, put there with certutil as `gotunnel trust` would: certificate errors are never ignored
 * (`acceptInsecureCerts: false`), so a page that loads proves the chain. The route names resolve to loopback inside
 * that browser only, never through /etc/hosts: Chromium's `--host-resolver-rules` (the form `gotunnel run` exports as
 * GOTUNNEL_HOST_RESOLVER_RULES), Firefox's `network.dns.localDomains` pref.
 *
 * In-page code is passed as strings: the project's tsconfig has no DOM types.
 */
import { describe } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import type { E2EScope } from "./e2e.ts";
import { run } from "./e2e.ts";
import { type Requirement, requireTools } from "./tools.ts";

export type BrowserKind = "chromium" | "firefox";

/** The program of each browser, as scripts/system-deps.ts lists it. */
const PROGRAMS: Record<BrowserKind, string> = { chromium: "chromium", firefox: "firefox-esr" };
const LABELS: Record<BrowserKind, string> = { chromium: "Chromium", firefox: "Firefox" };

/** Runs where the browser and certutil (the NSS database) are installed; otherwise says which package to add. */
export function requireBrowser(kind: BrowserKind): Requirement {
  return requireTools(PROGRAMS[kind], "certutil");
}

/** One describe block per browser, named after it, each skipped with the reason where that browser is missing. */
export function eachBrowser(body: (kind: BrowserKind) => void): void {
  for (const kind of ["chromium", "firefox"] as const) {
    const requirement = requireBrowser(kind);
    describe.skipIf(requirement.skip)(requirement.title(LABELS[kind]), () => body(kind));
  }
}

/** How long a browser gets to start and answer its protocol (Firefox takes ~4 s here on two busy cores). */
const LAUNCH_TIMEOUT_MS = 60_000;
/** How long an in-page condition gets (a Next page compiles on first load; a hot update takes a rebuild). */
export const PAGE_TIMEOUT_MS = 60_000;

/**
 * Chromium flags for a test box: no sandbox (we run as root), no GPU, no first-run UI, nothing fetched in the
 * background. QUIC is off so the page's protocol is what the TCP listener negotiated (h2 or http/1.1).
 */
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];

/** A fresh NSS database in `dir` that trusts `caPath` to identify web servers (`-t C,,`), as `gotunnel trust` does. */
async function trustingNssDb(dir: string, caPath: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const db = `sql:${dir}`;
  for (const argv of [
    ["certutil", "-N", "-d", db, "--empty-password"],
    ["certutil", "-A", "-d", db, "-t", "C,,", "-n", "gotunnel", "-i", caPath],
  ]) {
    const result = await run(argv);
    if (result.exitCode !== 0) throw new Error(`${argv.join(" ")} failed (${result.exitCode}): ${result.stderr}`);
  }
}

export interface LaunchOptions {
  /** The CA to trust; undefined launches a browser that trusts only the system roots (a control). */
  caPath: string | undefined;
  /** Names that resolve to 127.0.0.1 in this browser. */
  names: string[];
}

/** Starts `kind` headless with a temp HOME and profile; closed (and its dirs removed) with `scope`. */
export async function launchBrowser(scope: E2EScope, kind: BrowserKind, options: LaunchOptions): Promise<Browser> {
  const home = scope.dir(`${kind}-home`);
  const profile = scope.dir(`${kind}-profile`);
  const executablePath = Bun.which(PROGRAMS[kind]);
  if (executablePath === null) throw new Error(`${PROGRAMS[kind]} is not installed`);
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home };
  const common = { executablePath, headless: true, acceptInsecureCerts: false, env, timeout: LAUNCH_TIMEOUT_MS };
  let browser: Browser;
  if (kind === "chromium") {
    // Chromium on Linux reads its trust anchors from the NSS database in ~/.pki/nssdb.
    if (options.caPath) await trustingNssDb(join(home, ".pki", "nssdb"), options.caPath);
    const rules = options.names.map((name) => `MAP ${name} 127.0.0.1`).join(", ");
    browser = await puppeteer.launch({
      ...common,
      browser: "chrome",
      userDataDir: profile,
      args: [...CHROMIUM_ARGS, `--host-resolver-rules=${rules}`],
    });
  } else {
    // Firefox reads cert9.db from its profile directory; puppeteer adds its prefs (user.js) to that same profile.
    if (options.caPath) await trustingNssDb(profile, options.caPath);
    browser = await puppeteer.launch({
      ...common,
      browser: "firefox",
      userDataDir: profile,
      extraPrefsFirefox: {
        // These names answer with the loopback addresses, as `localhost` does (Firefox's nsHostResolver).
        "network.dns.localDomains": options.names.join(","),
        // No DNS over HTTPS, no system proxy: the names must reach gotunnel through the pref above only.
        "network.trr.mode": 5,
        "network.proxy.type": 0,
      },
    });
  }
  scope.defer(async () => {
    await browser.close();
    // close() fails silently (puppeteer logs and goes on): make sure no browser process outlives the test.
    browser.process()?.kill("SIGKILL");
  });
  return browser;
}

/** A page and what it reported: console messages and responses with an error status, for failure messages. */
export interface Tab {
  page: Page;
  /** Console messages, in order (Vite's and Next's HMR clients report through the console). */
  console: string[];
  /** `STATUS URL` of every response with a status of 400 or more. */
  failures: string[];
}

/** Opens a page on `url` and checks that the document itself came back 200. */
export async function openTab(browser: Browser, url: string): Promise<Tab> {
  const page = await browser.newPage();
  const tab: Tab = { page, console: [], failures: [] };
  page.on("console", (message) => tab.console.push(message.text()));
  page.on("response", (response) => {
    if (response.status() >= 400) tab.failures.push(`${response.status()} ${response.url()}`);
  });
  const response = await page.goto(url, { timeout: PAGE_TIMEOUT_MS });
  const status = response?.status();
  if (status !== 200) {
    const body = await page.evaluate("document.body?.innerText ?? ''");
    throw new Error(`${url} answered ${status}: ${String(body).slice(0, 500)}`);
  }
  return tab;
}

/** What the tab saw, for a failure message. */
function describeTab(tab: Tab): string {
  return `console: ${JSON.stringify(tab.console)}; failed responses: ${JSON.stringify(tab.failures)}`;
}

/** The protocol the page's document came over, as the browser negotiated it ("h2", "http/1.1"). */
export function pageProtocol(tab: Tab): Promise<string> {
  return tab.page.evaluate(`performance.getEntriesByType("navigation")[0].nextHopProtocol`) as Promise<string>;
}

/** Runs `expression` (in-page JavaScript) and returns its value. */
export function inPage<T>(tab: Tab, expression: string): Promise<T> {
  return tab.page.evaluate(expression) as Promise<T>;
}

/** Waits until `expression` (in-page JavaScript) is truthy; the error names `what` and what the tab saw. */
export async function waitInPage(tab: Tab, expression: string, what: string, timeoutMs = PAGE_TIMEOUT_MS) {
  try {
    await tab.page.waitForFunction(expression, { timeout: timeoutMs, polling: 100 });
  } catch (error) {
    const body = await tab.page.evaluate("document.body?.innerText ?? ''").catch((why: unknown) => `(${why})`);
    const seen = `${describeTab(tab)}; page text: ${JSON.stringify(String(body).slice(0, 500))}`;
    throw new Error(`no ${what} within ${timeoutMs} ms (${expression}); ${seen}`, { cause: error });
  }
}

/** Waits until the tab's console holds a message that `predicate` accepts; returns it. */
export async function waitForConsole(tab: Tab, predicate: (text: string) => boolean, what: string): Promise<string> {
  const deadline = Date.now() + PAGE_TIMEOUT_MS;
  for (;;) {
    const found = tab.console.find(predicate);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${PAGE_TIMEOUT_MS} ms; ${describeTab(tab)}`);
    await Bun.sleep(50);
  }
}
