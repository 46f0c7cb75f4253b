/**
 * A real Vite dev server (the pinned devDependency) started by the compiled `gotunnel up` from a route's `command`,
 * with no Vite config, opened in real headless browsers on `https://vite-app.local:<port>/`: Chromium over CDP and
 * Firefox ESR over WebDriver BiDi, each trusting gotunnel's CA through its own NSS database (never by ignoring
 * certificate errors). The page must come over HTTP/2, its HMR client must connect through gotunnel (the request
 * log shows the 101), and an edited module must be hot-swapped: the DOM shows the new text while a value set on
 * `window` before the edit survives (a full reload would clear it).
 *
 * Without gotunnel's `__VITE_ADDITIONAL_SERVER_ALLOWED_HOSTS`, Vite answers the page with 403 "Blocked request";
 * without h2 on the HTTPS listener, the protocol check fails.
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
  pageProtocol,
  waitForConsole,
  waitInPage,
} from "../helpers/browser.ts";
import { E2EScope, until } from "../helpers/e2e.ts";
import { devRoute, upForFile } from "../helpers/frameworks.ts";

const scope = new E2EScope();
const NAME = "vite-app.local";
const marker = `m${crypto.randomUUID().slice(0, 8)}`;

const message = (text: string) => `export const message = ${JSON.stringify(text)};\n`;

const session = upForFile(scope, marker, () => ({
  "package.json": JSON.stringify({ name: "vite-app", private: true, type: "module", scripts: { dev: "vite" } }),
  "index.html": `<!doctype html><html><body><div id="app"></div><script type="module" src="/src/main.js"></script></body></html>`,
  // main.js accepts message.js's updates itself, so an edit to message.js is a hot update, never a reload.
  "src/main.js": `import { message } from "./message.js";
const app = document.querySelector("#app");
app.textContent = message;
if (import.meta.hot) import.meta.hot.accept("./message.js", (next) => { app.textContent = next.message; });
`,
  "src/message.js": message("first"),
  "gotunnel.config.json": JSON.stringify({
    routes: { [NAME]: devRoute(marker) },
  }),
}));

async function hotUpdate(kind: BrowserKind): Promise<void> {
  const before = `${kind}: before the edit`;
  const after = `${kind}: hot-updated`;
  writeFileSync(join(session.dir, "src", "message.js"), message(before));
  const logged = session.gotunnel.requestLog().length;
  const browser = await launchBrowser(scope, kind, { caPath: session.gotunnel.caPath, names: [NAME] });
  const tab = await openTab(browser, session.gotunnel.ready.routes[0]?.url ?? "");
  await waitInPage(tab, `document.querySelector("#app").textContent === ${JSON.stringify(before)}`, "first render");

  // Vite's client says "connected" once its WebSocket is open, and gotunnel logs that upgrade (token redacted);
  // the log line reaches `up`'s output on its own schedule, so wait for it too.
  await waitForConsole(tab, (text) => text === "[vite] connected.", "Vite's connected message");
  const socketRequests = () =>
    session.gotunnel
      .requestLog()
      .slice(logged)
      .filter((line) => line.path === "/?token=REDACTED");
  await until(() => socketRequests().find((line) => line.status === 101));
  expect(socketRequests()).toContainEqual(expect.objectContaining({ method: "GET", status: 101, route: NAME }));

  await inPage(tab, "window.__gotunnelMarker = 1");
  writeFileSync(join(session.dir, "src", "message.js"), message(after));
  await waitInPage(tab, `document.querySelector("#app").textContent === ${JSON.stringify(after)}`, "the hot update");
  expect(await inPage(tab, "window.__gotunnelMarker")).toBe(1);
  expect(tab.console).toContain("[vite] hot updated: /src/message.js via /src/main.js");
  expect(await pageProtocol(tab)).toBe("h2");
  await browser.close();
}

eachBrowser((kind) => {
  test("a Vite page on a .local name over h2 with the CA trusted; an edited module is hot-updated, no reload, through the HMR socket gotunnel bridged", async () => {
    await hotUpdate(kind);
  }, 180_000);
});
