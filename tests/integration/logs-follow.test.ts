/**
 * `GET /v1/logs` on the in-process daemon's real socket: several followers at once, each with its own filter, and
 * a follower that stops reading, which must neither slow the proxy nor grow without bound: its lines are dropped
 * and counted, and it learns how many when it reads again.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ControlClient, type LogsDropped } from "../../src/daemon/control/client.ts";
import { socketPath } from "../../src/daemon/control/endpoint.ts";
import { type LogLine, okResponseSchema, readySchema } from "../../src/daemon/control/protocol.ts";
import { runDaemon } from "../../src/daemon/daemon.ts";
import { resolvePaths } from "../../src/platform/paths.ts";

const dir = mkdtempSync(join(tmpdir(), "gotunnel-logs-"));
const paths = resolvePaths({ env: { GOTUNNEL_HOME: join(dir, "home") } });
const client = new ControlClient(socketPath(paths.runtimeDir));
let stopped: Promise<NodeJS.Signals>;
let httpPort = 0;
/** More than the follow backlog (1000) plus what the socket buffers can hold. */
const FLOOD_REQUESTS = 6_000;

beforeAll(async () => {
  let ready: (port: number) => void = () => undefined;
  const isReady = new Promise<number>((resolve) => {
    ready = resolve;
  });
  stopped = runDaemon({
    proxy: { host: "127.0.0.1", httpsPort: 0, httpPort: 0, adminPort: 0 },
    lan: false,
    paths,
    hostsFile: join(dir, "hosts"),
    log: () => undefined,
    onReady: (status) => ready(status.ports.http),
  });
  httpPort = await Promise.race([isReady, stopped.then(() => 0)]);
  const target = { protocol: "http:", hostname: "127.0.0.1", port: 9, origin: "http://127.0.0.1:9" };
  const routes = ["a.local", "b.local"].map((name) => ({
    name,
    wildcard: false,
    target,
    https: true,
    headers: {},
    preserveHost: true,
  }));
  await client.request("POST", "/v1/routes", readySchema, {
    routes,
    owner: { kind: "command", cwd: dir },
    persistent: false,
  });
});

afterAll(async () => {
  await client.request("POST", "/v1/shutdown", okResponseSchema);
  await stopped;
  rmSync(dir, { recursive: true, force: true });
});

/** The HTTP listener answers an https route with a redirect: a logged request that needs no upstream. */
async function hit(host: string, path: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${httpPort}${path}`, { headers: { host }, redirect: "manual" });
  await response.arrayBuffer();
  return response.status;
}

async function collect(
  items: AsyncGenerator<LogLine | LogsDropped>,
  until: (item: LogLine | LogsDropped) => boolean,
): Promise<(LogLine | LogsDropped)[]> {
  const seen: (LogLine | LogsDropped)[] = [];
  for await (const item of items) {
    seen.push(item);
    if (until(item)) break;
  }
  return seen;
}

describe("following the request log", () => {
  test("several followers at once, each with its own route filter", async () => {
    const abort = new AbortController();
    const all = await client.logs({ follow: true, limit: 1 }, abort.signal);
    const onlyB = await client.logs({ follow: true, route: "b", limit: 1 }, abort.signal);
    const seenAll = collect(all, (item) => "path" in item && item.path === "/b-live");
    const seenB = collect(onlyB, (item) => "path" in item && item.path === "/b-live");
    await hit("a.local", "/a-live");
    await hit("b.local", "/b-live");
    const paths = async (seen: Promise<(LogLine | LogsDropped)[]>) =>
      (await seen).flatMap((item) => ("path" in item ? [item.path] : []));
    expect((await paths(seenAll)).slice(-2)).toEqual(["/a-live", "/b-live"]);
    expect(await paths(seenB)).not.toContain("/a-live");
    abort.abort();
  });

  test("a follower that stops reading does not slow the proxy; it is told how many lines it missed", async () => {
    const socket = createConnection({ path: client.socket });
    await new Promise<void>((resolve) => socket.once("connect", resolve));
    socket.write("GET /v1/logs?follow=1&limit=1 HTTP/1.1\r\nHost: gotunnel\r\nx-gotunnel-protocol: 1\r\n\r\n");
    socket.pause();
    for (let i = 0; i < FLOOD_REQUESTS; i += 50) {
      const batch = Array.from({ length: 50 }, (_, j) => hit("a.local", `/flood/${i + j}`));
      expect(new Set(await Promise.all(batch))).toEqual(new Set([308]));
    }
    let text = "";
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8");
    });
    socket.resume();
    // Reading again drains the backlog; the next line to arrive carries the count of those dropped before it.
    await Bun.sleep(300);
    await hit("a.local", "/after");
    const deadline = Date.now() + 5_000;
    while (!text.includes('"/after"') && Date.now() < deadline) await Bun.sleep(20);
    socket.destroy();
    const dropped = /\{"event":"dropped","count":(\d+)\}/.exec(text);
    expect(dropped).not.toBeNull();
    const delivered = text.split("\n").filter((line) => line.includes('"/flood/')).length;
    expect(delivered + Number(dropped?.[1])).toBe(FLOOD_REQUESTS);
    expect(text).toContain('"/after"');
  });
});
