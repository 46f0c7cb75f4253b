/**
 * A real Vite dev server (the pinned devDependency) started by `gotunnel up` from a route's `command`, with no Vite
 * config at all: gotunnel gives it a free port (`npm run dev -- --port N --strictPort`), gets `vite-app.local`
 * allowed (Vite refuses any name but localhost by default: "Blocked request"), and the page, its modules and the
 * HMR WebSocket work over HTTPS by name; an edited module is served changed and announced on the socket.
 * Slow (a real Vite start, ~5 s): kept in its own file so CI can run it in parallel with the rest.
 */
import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { curl, E2EScope, freePort, REPO_ROOT, runGotunnel } from "../helpers/e2e.ts";
import { appProject, tabSocket } from "../helpers/frameworks.ts";
import { liveWithMarker, untilEmpty } from "../helpers/proc-tree.ts";

const scope = new E2EScope();
afterAll(() => scope.dispose());

const NAME = "vite-app.local";
const marker = `m${crypto.randomUUID().slice(0, 8)}`;

const APP = {
  "package.json": JSON.stringify({ name: "vite-app", private: true, type: "module", scripts: { dev: "vite" } }),
  "index.html": `<!doctype html><html><body><div id="app"></div><script type="module" src="/src/main.js"></script></body></html>`,
  "src/main.js": `import { message } from "./message.js";
document.querySelector("#app").textContent = message;
if (import.meta.hot) import.meta.hot.accept("./message.js", (next) => { document.querySelector("#app").textContent = next.message; });
`,
  "src/message.js": `export const message = "hello from vite 1";\n`,
  "gotunnel.config.json": JSON.stringify({
    routes: { [NAME]: { command: "npm run dev", env: { GOTUNNEL_TEST_MARKER: marker } } },
  }),
};

test("Vite via `command`: page, modules and HMR on a .local name with no Vite config; an edit is served and announced", async () => {
  const dir = appProject(scope, APP);
  const gotunnel = await scope.up(dir, scope.dir("home"));
  const url = gotunnel.ready.routes[0]?.url ?? "";
  const get = (path: string) => curl(`${url}${path}`, { ca: gotunnel.caPath });

  const page = await get("/");
  expect(page.status).toBe(200);
  expect(page.stdout).toContain("/@vite/client");
  // gotunnel's port reached Vite as a flag (Vite reads no PORT): its banner names the route's target port.
  const port = new URL(gotunnel.ready.routes[0]?.target ?? "").port;
  expect(gotunnel.stderr.text()).toContain(`http://localhost:${port}/`);

  // The HMR client connects to the page's own host and port (through gotunnel), with the server's token.
  const client = await get("/@vite/client");
  expect(client.status).toBe(200);
  expect(client.stdout).toContain("const hmrPort = null;");
  const token = /const wsToken = "([^"]+)";/.exec(client.stdout)?.[1];
  expect(token).toBeDefined();
  for (const module of ["/src/main.js", "/src/message.js"]) expect((await get(module)).status).toBe(200);

  const socket = await tabSocket(gotunnel, NAME, `/?token=${token}`, ["vite-hmr"]);
  await socket.waitFor((text) => text.includes('"type":"connected"'), "Vite's connected message");
  writeFileSync(join(dir, "src", "message.js"), `export const message = "hello from vite 2";\n`);
  const update = await socket.waitFor((text) => text.includes('"type":"update"'), "an HMR update");
  expect(update).toContain("/src/message.js");
  const edited = await get(`/src/message.js?t=${Date.now()}`);
  expect(edited.stdout).toContain("hello from vite 2");
  socket.close();

  expect(await gotunnel.stop("SIGINT")).toBe(0);
  expect(await untilEmpty(() => liveWithMarker(marker))).toEqual([]);
}, 90_000);

test("Vite started by hand refuses the .local name: the client, the request log and `doctor routes` say so, with the fix", async () => {
  const dir = appProject(scope, { ...APP, "gotunnel.config.json": "{}" });
  const port = await freePort();
  // No gotunnel here: Vite's default allowedHosts refuses every name but localhost.
  const vite = Bun.spawn([join(REPO_ROOT, "node_modules", ".bin", "vite"), "--port", String(port), "--strictPort"], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", GOTUNNEL_TEST_MARKER: marker },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "ignore",
    detached: true,
  });
  scope.defer(() => process.kill(-vite.pid, "SIGKILL"));
  const home = scope.dir("home");
  writeFileSync(join(dir, "gotunnel.config.json"), JSON.stringify({ routes: { "hand.local": port } }));
  const gotunnel = await scope.up(dir, home);
  let page = await curl(`${gotunnel.ready.routes[0]?.url}/`, { ca: gotunnel.caPath });
  for (let attempt = 0; attempt < 100 && page.status === 502; attempt++) {
    await Bun.sleep(100);
    page = await curl(`${gotunnel.ready.routes[0]?.url}/`, { ca: gotunnel.caPath });
  }
  expect(page.status).toBe(403);
  expect(page.headers).toContainEqual(["x-gotunnel-refused-by", "Vite"]);
  expect(page.stdout).toContain('gotunnel: hand.local: Vite refused the host name "hand.local"');
  expect(page.stdout).toContain('server: { allowedHosts: ["hand.local"] }');
  // The `up` session's request line carries the refusal as its error.
  const line = await gotunnel.stdout.waitFor((text) => text.includes('"status":403'), 10_000);
  expect(JSON.parse(line).error).toStartWith('Vite refused the host name "hand.local"; fix: ');
  const doctor = await runGotunnel(["doctor", "routes", "--json"], { cwd: dir, home });
  expect(doctor.exitCode).toBe(0);
  const [check] = JSON.parse(doctor.stdout).routes;
  expect(check.refusal.framework).toBe("Vite");
  expect(check.refusal.fixes).toContain('or in vite.config: server: { allowedHosts: ["hand.local"] }');
  expect(check.logged[0]).toStartWith('Vite refused the host name "hand.local"');
  const text = await runGotunnel(["doctor", "routes"], { cwd: dir, home });
  expect(text.stderr + text.stdout).toContain("hand.local: Vite refused the host name");
  await gotunnel.stop("SIGINT");
}, 90_000);
