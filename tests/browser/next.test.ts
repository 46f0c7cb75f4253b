/**
 * A real Next.js 16 dev server (Turbopack, the pinned devDependency) started by the compiled `gotunnel up` from a
 * route's `command`, with no next.config, opened in real headless browsers on `https://next-app.local:<port>/`:
 * Chromium over CDP and Firefox ESR over WebDriver BiDi, each trusting gotunnel's CA through its own NSS database
 * (never by ignoring certificate errors). The page must come over HTTP/2, hydrate (its `/_next/` chunks run),
 * and open its HMR socket `/_next/hmr` through gotunnel (the request log shows the 101). Then React Fast Refresh: a
 * counter clicked three times keeps its count while an edit to its component shows the new text, and a value set on
 * `window` before the edit survives (a full reload would clear both).
 *
 * Without the route's rewriteOrigin (set by gotunnel when it starts Next), Next refuses the HMR socket of a page on a
 * `.local` origin ("Blocked cross-origin request"; the browser saw gotunnel's 502 for it), and with Next 16.5.0 the
 * page then never hydrates: this test fails at the HMR check.
 */
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type BrowserKind,
  eachBrowser,
  inPage,
  launchBrowser,
  openTab,
  PAGE_TIMEOUT_MS,
  pageProtocol,
  type Tab,
  waitInPage,
} from "../helpers/browser.ts";
import { E2EScope, until } from "../helpers/e2e.ts";
import { nextAppFiles, upForFile } from "../helpers/frameworks.ts";

const scope = new E2EScope();
const NAME = "next-app.local";
const marker = `m${crypto.randomUUID().slice(0, 8)}`;

/** A client component with state: Fast Refresh keeps `count` across an edit of this file. */
const counter = (label: string) => `"use client";
import { useState } from "react";
export default function Counter() {
  const [count, setCount] = useState(0);
  return (
    <main>
      <h1 id="label">{${JSON.stringify(label)}}</h1>
      <button id="count" type="button" onClick={() => setCount(count + 1)}>count {count}</button>
    </main>
  );
}
`;

const session = upForFile(scope, marker, () =>
  nextAppFiles(NAME, marker, {
    "app/page.js": `import Counter from "./counter.js";\nexport default function Page() { return <Counter />; }\n`,
    "app/counter.js": counter("first"),
  }),
);

const textIs = (selector: string, text: string) =>
  `document.querySelector(${JSON.stringify(selector)})?.textContent === ${JSON.stringify(text)}`;

/** React attaches its props to an element when it hydrates it: until then a click does nothing. */
const HYDRATED = `Object.keys(document.querySelector("#count") ?? {}).some((key) => key.startsWith("__reactProps"))`;

async function click(tab: Tab, times: number): Promise<void> {
  for (let n = 1; n <= times; n++) {
    await tab.page.click("#count");
    await waitInPage(tab, textIs("#count", `count ${n}`), `count ${n} after a click`);
  }
}

/** How long one save of an edit gets to reach the page before it is saved again (see saveUntilShown). */
const RESAVE_AFTER_MS = 5_000;

/**
 * Saves counter.js with `label` until the page shows it. On a freshly started Next 16.5.0, the first edit after the
 * first page load is sometimes rebuilt and announced to the page ("[Fast Refresh] done" in its console) but not
 * applied; a second save is. That is Next's own: it happened as often with the page loaded straight from
 * http://localhost:<port>, without gotunnel (1 in 4 runs there, 2 in 4 through gotunnel). So the edit is saved again,
 * changed only by a comment, as a user would save again; each save still has to arrive over the HMR socket as a hot
 * update, with the counter's state and the page's window kept.
 */
async function saveUntilShown(tab: Tab, label: string): Promise<void> {
  const deadline = Date.now() + PAGE_TIMEOUT_MS;
  for (let save = 1; ; save++) {
    writeFileSync(join(session.dir, "app", "counter.js"), `${counter(label)}// save ${save}\n`);
    const last = Date.now() + RESAVE_AFTER_MS >= deadline;
    const wait = waitInPage(tab, textIs("#label", label), `the Fast Refresh update of save ${save}`, RESAVE_AFTER_MS);
    if (last) return wait;
    const shown = await wait.then(
      () => true,
      () => false,
    );
    if (shown) return;
  }
}

async function fastRefresh(kind: BrowserKind): Promise<void> {
  const before = `${kind}: before the edit`;
  const after = `${kind}: fast-refreshed`;
  writeFileSync(join(session.dir, "app", "counter.js"), counter(before));
  const logged = session.gotunnel.requestLog().length;
  const browser = await launchBrowser(scope, kind, { caPath: session.gotunnel.caPath, names: [NAME] });
  const tab = await openTab(browser, session.gotunnel.ready.routes[0]?.url ?? "");
  await waitInPage(tab, textIs("#label", before), "first render");

  // The HMR socket went through gotunnel and Next accepted it (a refused upgrade is logged with another status).
  const hmrRequests = () =>
    session.gotunnel
      .requestLog()
      .slice(logged)
      .filter((line) => String(line.path).startsWith("/_next/hmr?"));
  await until(() => hmrRequests().find((line) => line.status === 101));
  expect(hmrRequests()).toContainEqual(expect.objectContaining({ method: "GET", status: 101, route: NAME }));
  await waitInPage(tab, HYDRATED, "hydration (the page's /_next/ chunks ran)");

  await click(tab, 3);
  await inPage(tab, "window.__gotunnelMarker = 1");
  await saveUntilShown(tab, after);
  expect(await inPage(tab, `document.querySelector("#count").textContent`)).toBe("count 3");
  expect(await inPage(tab, "window.__gotunnelMarker")).toBe(1);
  expect(await pageProtocol(tab)).toBe("h2");
  await browser.close();
}

eachBrowser((kind) => {
  test("a Next.js 16 page on a .local name over h2 with the CA trusted; Fast Refresh keeps a clicked counter's state and reloads nothing, through the HMR socket gotunnel bridged", async () => {
    await fastRefresh(kind);
  }, 180_000);
});
