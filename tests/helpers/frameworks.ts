/**
 * Real framework apps for e2e tests: scaffolded from files into a temp directory under the repository's gitignored
 * `.artifacts/`, so the repository's node_modules (vite, next, react: pinned devDependencies) resolve the way they do
 * in a user's project. A directory outside the repository with a node_modules symlink is not enough: Turbopack
 * (Next 16's default) refuses files reached through a link out of its root ("Could not find the Next.js package").
 * And a WebSocket client that acts like a browser tab on the route's name: SNI and Host of the name, its Origin.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type E2EScope, type Gotunnel, REPO_ROOT } from "./e2e.ts";

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
