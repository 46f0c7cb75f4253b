/**
 * The service's transaction with its seam, the gateway, failing at each step (the compiled-binary cases are in
 * tests/e2e/route-transactions.test.ts): whatever fails, the state file on disk, the route table and the served set
 * are those of before the change, and the next change goes through.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GotunnelError } from "../../src/core/errors.ts";
import type { AddRoutesRequest } from "../../src/daemon/control/protocol.ts";
import type { Gateway } from "../../src/daemon/gateway.ts";
import { RouteTable } from "../../src/daemon/routes.ts";
import { DaemonService } from "../../src/daemon/service.ts";
import { type RouteRecord, saveState } from "../../src/daemon/state.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "gotunnel-transaction-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const target = { protocol: "http:" as const, hostname: "127.0.0.1", port: 1, origin: "http://127.0.0.1:1" };
const route = (name: string) => ({ name, wildcard: false, target, https: true, headers: {}, preserveHost: true });
const owner = { kind: "command" as const, cwd: "/work" };
const request = (...names: string[]): AddRoutesRequest => ({
  routes: names.map(route),
  owner,
  persistent: true,
  force: false,
});

/** The gateway as the service sees it: `.dev` is outside the CA's scope; `failSwaps` makes the next swaps throw. */
function fakeGateway() {
  const served: string[][] = [];
  const gateway = {
    failSwaps: 0,
    served,
    caCreated: false,
    ca: { certPath: join(dir, "rootCA.pem"), notAfter: new Date("2030-01-01") },
    ports: { https: 8443, http: 8080 },
    refused: [],
    urlOf: (r: { name: string }) => `https://${r.name}:8443`,
    checkTls(r: { name: string }) {
      if (r.name.endsWith(".dev")) throw new GotunnelError("E_TLS", `Cannot serve "${r.name}" over HTTPS`);
    },
    prepare: async () => undefined,
    backends: () => [],
    async setRoutes(routes: readonly { name: string }[]) {
      if (gateway.failSwaps > 0) {
        gateway.failSwaps--;
        throw new GotunnelError("E_PORT_IN_USE", "the new listener could not bind");
      }
      served.push(routes.map((r) => r.name));
    },
  };
  return gateway;
}

function serviceWith(initial: RouteRecord[] = []) {
  const gateway = fakeGateway();
  const stateFile = join(dir, "routes.json");
  if (initial.length > 0) saveState(stateFile, initial);
  const service = new DaemonService({
    gateway: gateway as unknown as Gateway,
    table: new RouteTable(initial),
    stateFile,
    hostsFile: join(dir, "hosts"),
    log: () => undefined,
  });
  const saved = () => readFileSync(stateFile, "utf8");
  return { service, gateway, stateFile, saved };
}

describe("a route change is a transaction", () => {
  test("a route outside the CA's scope is refused before anything is written or served", async () => {
    const { service, gateway, saved } = serviceWith();
    await service.add(request("api.local"));
    const before = saved();
    await expect(service.add(request("web.local", "myapp.dev"))).rejects.toThrow('Cannot serve "myapp.dev"');
    expect(saved()).toBe(before);
    expect(gateway.served).toEqual([["api.local"]]);
    expect(service.status().routes).toBe(1);
  });

  test("an invalid name sent straight to the control API is refused (E_DOMAIN_INVALID)", async () => {
    const { service } = serviceWith();
    await expect(service.add(request("bad name.local"))).rejects.toMatchObject({ code: "E_DOMAIN_INVALID" });
    await expect(service.add(request("API.local"))).rejects.toThrow('normal form ("api.local")');
    expect(service.status().routes).toBe(0);
  });

  test("a failed listener swap puts the state file back and keeps the old routes", async () => {
    const { service, gateway, saved } = serviceWith();
    await service.add(request("api.local"));
    const before = saved();
    gateway.failSwaps = 1;
    await expect(service.add(request("web.local"))).rejects.toThrow("could not bind");
    expect(saved()).toBe(before);
    expect(service.status().routes).toBe(1);
    // The next change starts from the old table.
    await service.add(request("shop.local"));
    expect(gateway.served.at(-1)).toEqual(["api.local", "shop.local"]);
  });

  test("a state file that cannot be written leaves the routes unchanged, and removal too", async () => {
    const { service, gateway, stateFile } = serviceWith();
    await service.add(request("api.local"));
    // A non-empty directory where the state file was: every rename onto it now fails.
    rmSync(stateFile);
    mkdirSync(join(stateFile, "occupied"), { recursive: true });
    const names = async () => (await service.routes()).map((r) => r.name);
    await expect(service.add(request("web.local"))).rejects.toMatchObject({ code: "E_IO" });
    expect(await names()).toEqual(["api.local"]);
    await expect(service.remove({ names: ["api.local"] })).rejects.toMatchObject({ code: "E_IO" });
    expect(await names()).toEqual(["api.local"]);
    expect(gateway.served).toEqual([["api.local"]]);
  });

  test("a change that alters nothing served swaps no listener", async () => {
    const { service, gateway } = serviceWith();
    await service.add(request("api.local"));
    await service.remove({ names: ["nothing.local"] });
    expect(gateway.served).toEqual([["api.local"]]);
  });
});
