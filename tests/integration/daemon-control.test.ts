/**
 * The daemon in-process on ephemeral ports with a temp home: the control API over its real unix socket, a hosts
 * file that cannot be written (a warning naming the names, never a crash), protocol mismatches, and shutdown.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ControlClient } from "../../src/daemon/control/client.ts";
import { socketPath } from "../../src/daemon/control/endpoint.ts";
import { okResponseSchema, readySchema, routesResponseSchema } from "../../src/daemon/control/protocol.ts";
import { runDaemon } from "../../src/daemon/daemon.ts";
import { resolvePaths } from "../../src/platform/paths.ts";

const dir = mkdtempSync(join(tmpdir(), "gotunnel-daemon-"));
const paths = resolvePaths({ env: { GOTUNNEL_HOME: join(dir, "home") } });
// A regular file where a directory should be: every read or write of the hosts file fails (ENOTDIR), even as root.
const notADir = join(dir, "not-a-dir");
writeFileSync(notADir, "");
const hostsFile = join(notADir, "hosts");
const logs: string[] = [];
let stopped: Promise<NodeJS.Signals>;
const client = new ControlClient(socketPath(paths.runtimeDir));

beforeAll(async () => {
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((resolve) => {
    ready = resolve;
  });
  stopped = runDaemon({
    proxy: { host: "127.0.0.1", httpsPort: 0, httpPort: 0, adminPort: 0 },
    // api.local would otherwise move the listeners to 0.0.0.0 and start mDNS on this machine's network.
    lan: false,
    paths,
    hostsFile,
    log: (level, message) => logs.push(`${level} ${message}`),
    onReady: () => ready(),
  });
  await Promise.race([isReady, stopped]);
});

afterAll(async () => {
  await client.request("POST", "/v1/shutdown", okResponseSchema);
  await stopped;
  rmSync(dir, { recursive: true, force: true });
});

const route = {
  name: "api.local",
  wildcard: false,
  target: { protocol: "http:", hostname: "localhost", port: 3000, origin: "http://localhost:3000" },
  https: true,
  headers: {},
  preserveHost: true,
};

describe("daemon control API", () => {
  test("a hosts file that cannot be written is a warning naming the names, and the route is still served", async () => {
    const ready = await client.request("POST", "/v1/routes", readySchema, {
      routes: [route],
      owner: { kind: "command", cwd: dir },
      persistent: true,
    });
    expect(ready.routes.map((item) => item.name)).toEqual(["api.local"]);
    expect(ready.hostsWarning).toContain("api.local will not resolve");
    const status = await client.status();
    expect(status.hosts.warning).toContain(hostsFile);
    expect(logs.some((line) => line.startsWith("warn") && line.includes("api.local"))).toBe(true);
    const { routes } = await client.request("GET", "/v1/routes", routesResponseSchema);
    expect(routes.map((item) => item.name)).toEqual(["api.local"]);
  });

  test("a client speaking another protocol version gets a clear error", async () => {
    const response = await fetch("http://gotunnel/v1/routes", {
      unix: client.socket,
      headers: { "x-gotunnel-protocol": "99" },
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: "E_PROTOCOL" } });
  });

  test("an invalid body is refused with the field that is wrong", async () => {
    const error = await client
      .request("POST", "/v1/routes", readySchema, { routes: [{ ...route, https: "yes" }], owner: {}, persistent: 1 })
      .catch((caught: unknown) => caught);
    expect(String(error)).toContain("invalid control request");
  });

  test("a socket nobody answers on means the daemon is not running (exit 7)", async () => {
    const error = await new ControlClient(join(dir, "nothing.sock")).status().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "E_DAEMON", exitCode: 7 });
    expect(String(error)).toContain("not running");
  });
});
