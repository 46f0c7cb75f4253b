/**
 * A real Next.js 16 dev server (Turbopack, the pinned devDependency) started by `gotunnel up` from a route's
 * `command`, with no next.config: gotunnel gives it a free port (`npm run dev -- -p N`), and its rewriteOrigin lets
 * a page on `next-app.local` use Next's dev endpoints, which refuse any Origin but localhost without
 * `allowedDevOrigins` (403 "Unauthorized"). An edited page is served changed.
 * Slow (a real Next start and first compile, ~10–20 s): kept in its own file so CI can run it in parallel.
 */
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { curl, E2EScope } from "../helpers/e2e.ts";
import { nextAppFiles, tabSocket, upForFile } from "../helpers/frameworks.ts";

const scope = new E2EScope();
const NAME = "next-app.local";
const marker = `m${crypto.randomUUID().slice(0, 8)}`;

const page = (n: number) => `export default function Page() { return <h1>hello from next ${n}</h1>; }\n`;

const session = upForFile(scope, marker, () => nextAppFiles(NAME, marker, { "app/page.js": page(1) }));

function get(path: string, headers: Record<string, string> = {}) {
  const url = session.gotunnel.ready.routes[0]?.url ?? "";
  const args = Object.entries(headers).flatMap(([name, value]) => ["-H", `${name}: ${value}`]);
  return curl(`${url}${path}`, { ca: session.gotunnel.caPath, args });
}

test("the page loads over HTTPS by name, and the port reached Next as -p", async () => {
  const home = await get("/");
  expect(home.status).toBe(200);
  expect(home.stdout).toContain("hello from next 1");
  const port = new URL(session.gotunnel.ready.routes[0]?.target ?? "").port;
  expect(session.gotunnel.stderr.text()).toContain(`next dev -p ${port}`);
}, 90_000);

test("a same-origin request to /_next/ with the page's Origin is accepted (Next refuses it without rewriteOrigin)", async () => {
  const home = await get("/");
  const chunk = /src="(\/_next\/static\/[^"]+\.js)"/.exec(home.stdout)?.[1];
  expect(chunk).toBeDefined();
  const origin = `https://${NAME}:${session.gotunnel.httpsPort}`;
  const result = await get(chunk as string, { origin, "sec-fetch-mode": "cors", "sec-fetch-site": "same-origin" });
  expect(result.status).toBe(200);
  // Another site's page is still refused by Next itself: the rewrite is for the route's own origin only.
  const foreign = await get(chunk as string, { origin: "https://evil.example", "sec-fetch-mode": "cors" });
  expect(foreign.status).toBe(403);
}, 90_000);

test("an edited page is served changed", async () => {
  writeFileSync(join(session.dir, "app", "page.js"), page(2));
  let body = "";
  for (let attempt = 0; attempt < 60 && !body.includes("hello from next 2"); attempt++) {
    body = (await get("/")).stdout;
    if (!body.includes("hello from next 2")) await Bun.sleep(500);
  }
  expect(body).toContain("hello from next 2");
}, 90_000);

// The bridge builds the upstream handshake with headers.ts routeRequestHeaders, as forward.ts does, so the HMR
// socket gets the route's rewriteOrigin too (Next refuses it, as it refuses /_next/ requests, without).
test("the HMR WebSocket /_next/hmr opens from a page on the .local name", async () => {
  const socket = await tabSocket(session.gotunnel, NAME, "/_next/hmr?id=gotunnel-e2e");
  writeFileSync(join(session.dir, "app", "page.js"), page(3));
  await socket.waitFor((text) => text.length > 0, "an HMR message");
  socket.close();
}, 90_000);

// Next refuses a foreign Origin's HMR socket by writing a bare "Unauthorized" with no status line
// (block-cross-site-dev.js): the browser gets Next's refusal as a 403 with gotunnel's explanation, not our 502.
test("an HMR WebSocket from another site's page gets Next's refusal, explained, not a 502", async () => {
  const headers = {
    origin: "https://evil.example",
    connection: "Upgrade",
    upgrade: "websocket",
    "sec-websocket-version": "13",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  };
  // WebSockets are HTTP/1.1 upgrades (Bun.serve has no RFC 8441), as browsers open them here.
  const args = ["--http1.1", ...Object.entries(headers).flatMap(([name, value]) => ["-H", `${name}: ${value}`])];
  const url = `${session.gotunnel.ready.routes[0]?.url ?? ""}/_next/hmr?id=gotunnel-e2e-foreign`;
  const result = await curl(url, { ca: session.gotunnel.caPath, args });
  expect(result.status).toBe(403);
  expect(result.stdout).toStartWith("Unauthorized");
  expect(result.stdout).toContain("Next.js refused");
}, 90_000);
