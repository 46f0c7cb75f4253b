/**
 * Real framework apps for e2e tests: scaffolded from files into a temp directory under the repository's gitignored
 * `.artifacts/`, so the repository's node_modules (vite, next, react: pinned devDependencies) resolve the way they do
 * in a user's project. A directory outside the repository with a node_modules symlink is not enough: Turbopack
 * (Next 16's default) refuses files reached through a link out of its root ("Could not find the Next.js package").
 * And a WebSocket client that acts like a browser tab on the route's name: SNI and Host of the name, its Origin.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type E2EScope, type Gotunnel, REPO_ROOT } from "./e2e.ts";
import { liveWithMarker, untilEmpty } from "./proc-tree.ts";

const APPS_DIR = join(REPO_ROOT, ".artifacts", "e2e-apps");
const EVENT_TIMEOUT_MS = 30_000;

/** A project directory holding `files`, removed when `scope` is disposed. */
export function appProject(scope: E2EScope, files: Record<string, string>): string {
  const dir = join(APPS_DIR, crypto.randomUUID());
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  scope.defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A route whose dev server gotunnel starts with `npm run dev`, every process of it marked (helpers/proc-tree.ts). */
export function devRoute(marker: string, env: Record<string, string> = {}) {
  return { command: "npm run dev", env: { GOTUNNEL_TEST_MARKER: marker, ...env } };
}

/** A Next.js app with `files` (app/page.js …), its root layout, and the route `name` that starts `next dev`. */
export function nextAppFiles(name: string, marker: string, files: Record<string, string>): Record<string, string> {
  return {
    "package.json": JSON.stringify({ name: "next-app", private: true, scripts: { dev: "next dev" } }),
    "app/layout.js": `export default function RootLayout({ children }) { return <html><body>{children}</body></html>; }\n`,
    ...files,
    "gotunnel.config.json": JSON.stringify({
      routes: { [name]: devRoute(marker, { NEXT_TELEMETRY_DISABLED: "1" }) },
    }),
  };
}

/** What upForFile started: read it inside tests, after the file's beforeAll. */
export interface DevSession {
  gotunnel: Gotunnel;
  dir: string;
}

/**
 * `gotunnel up` in the project `files` for the whole test file: started before its tests; after them stopped with
 * Ctrl-C, the scope disposed, and no process of the dev server left behind (found by `marker`).
 */
export function upForFile(scope: E2EScope, marker: string, files: () => Record<string, string>): DevSession {
  const session = {} as DevSession;
  beforeAll(async () => {
    session.dir = appProject(scope, files());
    session.gotunnel = await scope.up(session.dir, scope.dir("home"));
  }, 90_000);
  afterAll(async () => {
    await session.gotunnel?.stop("SIGINT");
    await scope.dispose();
    expect(await untilEmpty(() => liveWithMarker(marker))).toEqual([]);
  }, 60_000);
  return session;
}

export interface TabSocket {
  /** Resolves with the first message (text) matching `predicate`, including ones already received. */
  waitFor(predicate: (text: string) => boolean, what: string): Promise<string>;
  close(): void;
}

/** Opens `wss://<name>:<port><path>` through gotunnel as a page on `https://<name>:<port>` would. */
export async function tabSocket(gotunnel: Gotunnel, name: string, path: string, protocols: string[] = []) {
  const port = gotunnel.httpsPort;
  const ws = new WebSocket(`wss://127.0.0.1:${port}${path}`, {
    headers: { host: `${name}:${port}`, origin: `https://${name}:${port}` },
    protocols,
    tls: { ca: await Bun.file(gotunnel.caPath).text(), serverName: name },
  } as unknown as string[]);
  const messages: string[] = [];
  const waiters = new Set<() => void>();
  ws.addEventListener("message", (event) => {
    messages.push(typeof event.data === "string" ? event.data : new TextDecoder().decode(event.data as ArrayBuffer));
    for (const waiter of waiters) waiter();
  });
  await within(
    new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve());
      ws.addEventListener("error", (event) => reject(new Error(`WebSocket error: ${(event as ErrorEvent).message}`)));
    }),
    `the WebSocket ${path} to open`,
  );
  const socket: TabSocket = {
    waitFor(predicate, what) {
      return within(
        new Promise<string>((resolve) => {
          const check = () => {
            const found = messages.find(predicate);
            if (found === undefined) return;
            waiters.delete(check);
            resolve(found);
          };
          waiters.add(check);
          check();
        }),
        what,
      );
    },
    close: () => ws.close(),
  };
  return socket;
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${EVENT_TIMEOUT_MS} ms`)), EVENT_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
