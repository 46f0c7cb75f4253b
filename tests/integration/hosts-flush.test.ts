/**
 * The daemon service flushes the resolver cache after, and only after, a write that changed the hosts file (a real
 * temp hosts file; the flush itself is platform/darwin.ts, tested in tests/unit/platform-darwin.test.ts), and a flush
 * warning goes to the log without failing the route change.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddRoutesRequest } from "../../src/daemon/control/protocol.ts";
import { RouteTable } from "../../src/daemon/routes.ts";
import { DaemonService } from "../../src/daemon/service.ts";
import { stubGateway } from "../helpers/stub-gateway.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "gotunnel-flush-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const target = { protocol: "http:" as const, hostname: "127.0.0.1", port: 1, origin: "http://127.0.0.1:1" };
const request = (name: string, persistent = true): AddRoutesRequest => ({
  routes: [{ name, wildcard: false, target, https: true, headers: {}, preserveHost: true }],
  owner: { kind: "command", cwd: "/work" },
  persistent,
  force: false,
});

test("flushes once per hosts change, not when the file is unchanged; a warning is logged", async () => {
  const hostsFile = join(dir, "hosts");
  const logged: string[] = [];
  let flushes = 0;
  const service = new DaemonService({
    gateway: stubGateway(),
    table: new RouteTable([]),
    stateFile: join(dir, "routes.json"),
    hostsFile,
    log: (level, message) => logged.push(`${level}: ${message}`),
    async flushResolver() {
      flushes++;
      return ["the hosts file changed but `dscacheutil -flushcache` exited with 1"];
    },
  });
  await service.add(request("app.test"));
  expect(readFileSync(hostsFile, "utf8")).toContain("app.test");
  expect(flushes).toBe(1);
  expect(logged).toContain("warn: the hosts file changed but `dscacheutil -flushcache` exited with 1");
  // A .localhost name needs no hosts entry: the file stays byte for byte the same, so nothing is flushed.
  await service.add(request("other.localhost"));
  expect(flushes).toBe(1);
  await service.remove({ names: ["app.test"] });
  expect(readFileSync(hostsFile, "utf8")).not.toContain("app.test");
  expect(flushes).toBe(2);
});
