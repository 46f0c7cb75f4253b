/**
 * The dashboard in headless Chromium, trusting gotunnel's CA through its NSS database (never by ignoring certificate
 * errors): https://gotunnel.localhost loads (Chromium resolves `*.localhost` to loopback itself, with no resolver
 * rule for that name) under its Content-Security-Policy without a single violation, a request made with curl shows
 * up in the live list, its detail shows its headers, and with capture turned on a POST's bodies are kept and a
 * replay goes through the route and shows up marked as one.
 *
 * With GOTUNNEL_DASHBOARD_SCREENSHOTS=<dir> (scripts/screenshots.ts) it also saves the main views there as PNGs.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { inPage, launchBrowser, openTab, requireBrowser, type Tab, waitInPage } from "../helpers/browser.ts";
import { curl, E2EScope, runGotunnel, startEchoRoute } from "../helpers/e2e.ts";

const scope = new E2EScope();
const NAME = "dash-demo.local";
/** Bounds that only catch a hang: the list follows the daemon's event stream, well inside this. */
const LIST_WAIT_MS = 10_000;
const SCREENSHOTS = process.env.GOTUNNEL_DASHBOARD_SCREENSHOTS;
let route: Awaited<ReturnType<typeof startEchoRoute>>;
let dashboardUrl: string;

beforeAll(async () => {
  route = await startEchoRoute(scope, NAME, {});
  const answer = await runGotunnel(["dashboard", "--json"], { cwd: route.home, home: route.home });
  dashboardUrl = (JSON.parse(answer.stdout) as { url: string }).url;
}, 60_000);

afterAll(() => scope.dispose(), 60_000);

/** In-page: the live list's row whose text contains `text`, as an expression. */
const rowWith = (text: string) =>
  `[...document.querySelectorAll("#requests tbody tr")].find((row) => row.textContent.includes(${JSON.stringify(text)}))`;

async function screenshot(tab: Tab, name: string): Promise<void> {
  if (!SCREENSHOTS) return;
  await tab.page.screenshot({ path: join(SCREENSHOTS, `dashboard-${name}.png`) as `${string}.png` });
}

const chromium = requireBrowser("chromium");

test.skipIf(chromium.skip)(
  chromium.title("the dashboard follows requests, shows their detail, captures and replays (Chromium)"),
  async () => {
    const browser = await launchBrowser(scope, "chromium", { caPath: route.ca, names: [NAME] });
    const tab = await openTab(browser, dashboardUrl);
    await tab.page.setViewport({ width: 1440, height: 900 });
    await waitInPage(tab, `document.querySelector('#routes tr[data-route="${NAME}"]')`, "route row");
    await waitInPage(tab, `document.querySelector("#live").textContent === "live"`, "live event stream");
    expect(
      await inPage<string>(tab, `document.querySelector('#routes tr[data-route="${NAME}"]').textContent`),
    ).toContain("up");

    // A request made outside the browser appears in the list.
    for (const path of ["/api/users?page=2", "/status/404", "/text"])
      await curl(`${route.url}${path}`, { ca: route.ca });
    const made = await curl(`${route.url}/from-curl`, { ca: route.ca, args: ["-H", "X-Probe: browser-tier"] });
    expect(made.status).toBe(200);
    await waitInPage(tab, rowWith("/from-curl"), "the curl request in the live list", LIST_WAIT_MS);
    await screenshot(tab, "requests");

    // Its detail shows the request's and the response's headers.
    await tab.page.evaluate(`${rowWith("/from-curl")}.click()`);
    await waitInPage(
      tab,
      `document.querySelector("#detail-request-headers").textContent.includes("browser-tier")`,
      "detail",
    );
    const responseHeaders = await inPage<string>(tab, `document.querySelector("#detail-response-headers").textContent`);
    expect(responseHeaders).toContain("x-upstream");

    // Capture on, a POST with a body, then replay it from its detail.
    await tab.page.click(`input[data-capture="${NAME}"]`);
    await waitInPage(tab, `document.querySelector("#toast").textContent.startsWith("capturing")`, "capture turned on");
    await curl(`${route.url}/orders`, {
      ca: route.ca,
      args: ["-X", "POST", "-H", "content-type: application/json", "--data-binary", '{"item":"tea","qty":2}'],
    });
    await waitInPage(tab, `${rowWith("/orders")}?.textContent.includes("captured")`, "the captured POST", LIST_WAIT_MS);
    await tab.page.evaluate(`${rowWith("/orders")}.click()`);
    await waitInPage(
      tab,
      `document.querySelector("#detail-bodies").textContent.includes('"qty":2')`,
      "the captured body",
    );
    await screenshot(tab, "detail");
    await waitInPage(tab, `!document.querySelector("#replay").disabled`, "replay enabled");
    await tab.page.click("#replay");
    await waitInPage(tab, `${rowWith("replay of #")}`, "the replay in the live list", LIST_WAIT_MS);
    expect(await inPage<string>(tab, `${rowWith("replay of #")}.textContent`)).toContain("/orders");

    // Trust and LAN, for the screenshot and to see the panel render.
    await tab.page.click('button[data-view="machine"]');
    await waitInPage(tab, `document.querySelectorAll("#trust tbody tr").length > 0`, "the trust stores");
    await screenshot(tab, "trust-lan");

    // Nothing on the page was blocked by its own policy (an inline script or style would be).
    expect(tab.console.filter((line) => line.includes("Content Security Policy"))).toEqual([]);
    expect(tab.failures).toEqual([]);
  },
  120_000,
);
