/**
 * The daemon's route swaps (daemon/gateway.ts routeSwapper) run one at a time, but the next one starts as soon as the
 * previous one serves, not once its old listener has drained: a listener drains for 150 ms to 2 s while clients keep
 * sending, and a route added behind such a drain used to wait for it (200 ms of `up` → first 200, issue 18). Each
 * caller still hears back only once every older listener has stopped accepting, so a command that reports a route
 * ready never leaves a listener with older certificates taking its browser's connections.
 */
import { expect, test } from "bun:test";
import { routeSwapper } from "../../src/daemon/gateway.ts";
import type { ProxyRoute } from "../../src/proxy/router.ts";
import type { ProxyServer } from "../../src/proxy/server.ts";

function deferred() {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

const route = (name: string) => ({ name }) as unknown as ProxyRoute;

test("a second change is applied while the first one's old listener still drains, and reports after both", async () => {
  const drains: ReturnType<typeof deferred>[] = [];
  const applied: string[] = [];
  const proxy = {
    hosts: ["127.0.0.1"],
    apply(routes: readonly ProxyRoute[]) {
      applied.push(routes.map((each) => each.name).join(","));
      const drain = deferred();
      drains.push(drain);
      // As ProxyServer.apply: `retired` covers every listener still draining, earlier ones included.
      return { retired: Promise.all(drains.map((each) => each.promise)).then(() => undefined) };
    },
  } as unknown as ProxyServer;
  const swapper = routeSwapper(proxy, { tlsEntries: async () => [] }, { routes: [] } as never, () => []);
  const reported: string[] = [];
  const first = swapper.setRoutes([route("a.local")]).then(() => reported.push("first"));
  const second = swapper.setRoutes([route("a.local"), route("b.local")]).then(() => reported.push("second"));
  await Bun.sleep(20);
  expect(applied).toEqual(["a.local", "a.local,b.local"]); // the second did not wait for the first's drain
  expect(reported).toEqual([]); // nobody hears back while a listener with older certificates accepts
  expect(swapper.current().map((each) => each.name)).toEqual(["a.local", "b.local"]);
  drains[1]?.resolve();
  await Bun.sleep(20);
  expect(reported).toEqual([]); // the first change's old listener still drains
  drains[0]?.resolve();
  await Promise.all([first, second]);
  expect(reported.sort()).toEqual(["first", "second"]);
});

test("a change that cannot be applied fails its caller and does not stop the next one", async () => {
  let calls = 0;
  const proxy = {
    hosts: ["127.0.0.1"],
    apply() {
      calls++;
      if (calls === 1) throw new Error("port taken");
      return { retired: Promise.resolve() };
    },
  } as unknown as ProxyServer;
  const swapper = routeSwapper(proxy, { tlsEntries: async () => [] }, { routes: [] } as never, () => []);
  await expect(swapper.setRoutes([route("a.local")])).rejects.toThrow("port taken");
  expect(swapper.current()).toEqual([]);
  await swapper.setRoutes([route("b.local")]);
  expect(swapper.current().map((each) => each.name)).toEqual(["b.local"]);
});
