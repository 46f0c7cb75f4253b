/**
 * Hints computed from the situation at hand, through the compiled binary (issue 19): the port-in-use hint names a
 * port that is free now (it said 8443 even when 8443 was the busy port), `status` shows the admin port and, when
 * another daemon holds it (every user's daemon wants 7070), who holds it and a free one, and `logs NAME` suggests
 * only routes that exist now, not ones removed whose requests are still buffered.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  canBind,
  curl,
  daemonPid,
  E2EScope,
  freePort,
  requireBinary,
  runGotunnel,
  startEchoRoute,
  stopDaemonOf,
} from "../helpers/e2e.ts";

const scope = new E2EScope();
const ANY_PORTS = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };

beforeAll(() => requireBinary());
afterAll(() => scope.dispose());

/** The port a hint suggests for `flag`. */
function suggested(hint: string, flag: string): number {
  const match = new RegExp(`${flag} (\\d+)`).exec(hint);
  if (!match) throw new Error(`no ${flag} in the hint: ${hint}`);
  return Number(match[1]);
}

describe("the port-in-use hint", () => {
  test("never suggests the busy port: 8443 taken, so not 8443", async () => {
    // Hold 8443 unless something on this machine already does; either way it is the busy port.
    let held: { stop(close?: boolean): void } | undefined;
    if (canBind(8443)) held = Bun.listen({ hostname: "127.0.0.1", port: 8443, socket: { data() {} } });
    scope.defer(() => held?.stop(true));
    const home = scope.dir("busy");
    const args = [
      "start",
      "-d",
      "demo",
      "-p",
      "3000",
      "--proxy-https-port",
      "8443",
      "--proxy-http-port",
      "0",
      "--json",
    ];
    const result = await runGotunnel(args, { cwd: home, home });
    expect(result.exitCode).toBe(4);
    const { error } = JSON.parse(result.stdout) as { error: { code: string; hint: string } };
    expect(error.code).toBe("E_PORT_IN_USE");
    const port = suggested(error.hint, "--proxy-https-port");
    expect(port).not.toBe(8443);
    expect(port === 0 || canBind(port)).toBe(true);
    expect(error.hint).toContain("(free now)");
  });
});

describe("the admin port", () => {
  test("status shows where it is served", async () => {
    const { home } = await startEchoRoute(scope, "admin-one", {});
    const result = await runGotunnel(["status"], { cwd: home, home });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/admin\s+→ http:\/\/127\.0\.0\.1:\d+ \(\/metrics, \/health\/ready\)/);
  });

  test("held by another daemon (another user's, on the fixed default): status names the holder and a free port", async () => {
    const port = String(await freePort());
    const first = await startEchoRoute(scope, "first", { GOTUNNEL_ADMIN_PORT: port });
    const holder = daemonPid(first.home);
    const second = await startEchoRoute(scope, "second", { GOTUNNEL_ADMIN_PORT: port });
    const text = await runGotunnel(["status"], { cwd: second.home, home: second.home });
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toContain(`not served: port ${port} is taken`);
    expect(text.stderr).toContain(`127.0.0.1:${port} is in use by pid ${holder} (gotunnel)`);
    const json = await runGotunnel(["status", "--json"], { cwd: second.home, home: second.home });
    const status = JSON.parse(json.stdout) as { admin?: unknown; adminUnavailable?: { port: number; hint: string } };
    expect(status.admin).toBeUndefined();
    expect(status.adminUnavailable?.port).toBe(Number(port));
    const free = suggested(status.adminUnavailable?.hint ?? "", "proxy.adminPort\\) to");
    expect(free).not.toBe(Number(port));
    expect(canBind(free)).toBe(true);
    await stopDaemonOf(second.home);
    await stopDaemonOf(first.home);
  });
});

describe("logs NAME", () => {
  let home: string;
  let ca: string;
  let shopUrl: string;

  beforeAll(async () => {
    const blog = await startEchoRoute(scope, "blog", {});
    home = blog.home;
    ca = blog.ca;
    const shop = await runGotunnel(["start", "-d", "shop", "-p", blog.upstream.port.toString(), "--json"], {
      cwd: home,
      home,
      env: ANY_PORTS,
    });
    expect(shop.exitCode).toBe(0);
    shopUrl = (JSON.parse(shop.stdout) as { routes: { url: string }[] }).routes[0]?.url ?? "";
  });

  test("suggests only current routes: a removed route with buffered requests is not offered", async () => {
    expect((await curl(`${shopUrl}/bought`, { ca })).status).toBe(200);
    expect((await runGotunnel(["stop", "shop"], { cwd: home, home })).exitCode).toBe(0);
    const result = await runGotunnel(["logs", "shpo"], { cwd: home, home });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("no route named shpo: the routes are blog.local");
    expect(result.stderr).not.toContain("shop.local");
    // Its requests can still be read by its exact name.
    const removed = await runGotunnel(["logs", "shop.local", "--json"], { cwd: home, home });
    expect(removed.exitCode).toBe(0);
    expect(removed.stdout).toContain('"path":"/bought"');
  });

  test("a typo of a current route is suggested", async () => {
    const result = await runGotunnel(["logs", "blgo"], { cwd: home, home });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("did you mean `gotunnel logs blog.local`?");
  });
});
