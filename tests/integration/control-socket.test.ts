/**
 * A starting daemon never takes the control socket of one that still listens on it (a daemon whose lock file was
 * removed, or one with another state dir and the same runtime dir); a file nobody listens on is a leftover.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assertNoListener } from "../../src/daemon/control/server.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "gotunnel-socket-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test("a socket someone listens on is refused; no file, or a file nobody listens on, is free", async () => {
  const path = join(dir, "control.sock");
  await assertNoListener(path);
  writeFileSync(path, "");
  await assertNoListener(path);
  rmSync(path);
  const server = Bun.serve({ unix: path, fetch: () => new Response("ok") });
  try {
    await expect(assertNoListener(path)).rejects.toThrow(`a gotunnel daemon already listens on ${path}`);
  } finally {
    await server.stop(true);
  }
});
