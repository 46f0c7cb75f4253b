/**
 * macOS's rule for ports below 1024, run on Linux: a user may bind them only on the wildcard address, so a daemon
 * that is not root listens there and refuses other machines every route while nothing is shared
 * (platform/privileged-ports.ts, daemon/listen-plan.ts). GOTUNNEL_TEST_PORT_RULE=darwin-user makes the compiled
 * binary apply that rule here. The daemon runs in a network namespace of its own (tests/helpers/netns.ts), so its
 * low ports (643 and 680, not 443/80) and its wildcard listener exist only there; the LAN client is the second
 * namespace, at the other end of a veth pair.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { BINARY, binaryEnv, E2EScope, requireBinary, run } from "../helpers/e2e.ts";
import { createNetnsPair, eventually } from "../helpers/netns.ts";
import { requireAll, requireRoot, requireTools } from "../helpers/tools.ts";

const HTTPS_PORT = 643;
const HTTP_PORT = 680;
/** The dev server, inside the daemon's namespace. */
const UPSTREAM_PORT = 39990;
const UPSTREAM_BODY = "hello from the dev server";

const scope = new E2EScope();
afterAll(() => scope.dispose());

const needs = requireAll(requireRoot("create network namespaces (ip netns add)"), requireTools("ip", "ss", "curl"));

describe.skipIf(needs.skip)(needs.title("ports below 1024 under macOS's rule, as a user"), () => {
  test("the daemon listens on the wildcard: other machines get 403 until a route is shared, loopback is served", async () => {
    requireBinary();
    const pair = createNetnsPair();
    scope.defer(() => pair.cleanup());
    const home = scope.dir("darwin-home");
    const env = binaryEnv(home, {
      GOTUNNEL_TEST_PORT_RULE: "darwin-user",
      GOTUNNEL_LAN: "",
      GOTUNNEL_PROXY_HTTPS_PORT: String(HTTPS_PORT),
      GOTUNNEL_PROXY_HTTP_PORT: String(HTTP_PORT),
    });
    const inA = (argv: string[]) => run(pair.exec(pair.a.ns, argv), { env, timeoutMs: 30_000 });
    const inB = (argv: string[]) => run(pair.exec(pair.b.ns, argv), { env, timeoutMs: 30_000 });
    const gotunnel = (args: string[]) => inA(["sh", "-c", 'cd "$0" && exec "$@"', home, BINARY, ...args]);
    const upstream = Bun.spawn(
      pair.exec(pair.a.ns, [
        process.execPath,
        "-e",
        `Bun.serve({ port: ${UPSTREAM_PORT}, fetch: () => new Response(${JSON.stringify(UPSTREAM_BODY)}) })`,
      ]),
      { stdout: "ignore", stderr: "inherit" },
    );
    scope.defer(() => upstream.kill("SIGKILL"));
    await eventually(async () => {
      const probe = await inA(["curl", "-sS", `http://127.0.0.1:${UPSTREAM_PORT}/`]);
      return probe.stdout === UPSTREAM_BODY ? true : undefined;
    }, "the dev server answering");

    const started = await gotunnel(["start", "-d", "web.localhost", "-p", String(UPSTREAM_PORT), "--json"]);
    expect(started.exitCode).toBe(0);
    const ca = join(home, "ca", "rootCA.pem");
    const curl = (host: string, address: string, path = "/") => [
      "curl",
      "-sS",
      "--cacert",
      ca,
      "--resolve",
      `${host}:${HTTPS_PORT}:${address}`,
      "-w",
      "\n%{http_code}",
      `https://${host}:${HTTPS_PORT}${path}`,
    ];
    const plain = (host: string, address: string) => [
      "curl",
      "-sS",
      "-H",
      `Host: ${host}`,
      "-w",
      "\n%{http_code}",
      `http://${address}:${HTTP_PORT}/`,
    ];

    // One wildcard listener per port (dual-stack ::), none on 127.0.0.1, which macOS would refuse a user.
    const listening = await inA(["ss", "-Hltn"]);
    for (const port of [HTTPS_PORT, HTTP_PORT]) expect(listening.stdout).toMatch(new RegExp(`\\*:${port}\\s`));
    expect(listening.stdout).not.toContain(`127.0.0.1:${HTTPS_PORT}`);

    // This machine: over IPv4 and IPv6 loopback, the route is served.
    for (const address of ["127.0.0.1", "::1"]) {
      const local = await inA(curl("web.localhost", address));
      expect(local.stdout).toBe(`${UPSTREAM_BODY}\n200`);
    }
    // Another machine reaches the wildcard listener, and is refused the route over HTTPS and HTTP, and the 404 page.
    for (const argv of [
      curl("web.localhost", pair.a.v4),
      plain("nothing.localhost", pair.a.v4),
      plain("web.localhost", pair.a.v4),
    ]) {
      const lan = await inB(argv);
      expect(lan.stdout).toEndWith("\n403");
      expect(lan.stdout).toContain("is not shared on the LAN");
      expect(lan.stdout).not.toContain(UPSTREAM_BODY);
    }

    // A shared .local route opens the LAN as it does today: the other machine gets it; loopback still gets both.
    const shared = await gotunnel(["start", "-d", "pub.local", "-p", String(UPSTREAM_PORT), "--json"]);
    expect(shared.exitCode).toBe(0);
    expect((await inB(curl("pub.local", pair.a.v4))).stdout).toBe(`${UPSTREAM_BODY}\n200`);
    expect((await inA(curl("web.localhost", "127.0.0.1"))).stdout).toBe(`${UPSTREAM_BODY}\n200`);

    // Unshared again: the other machine is refused once more, by the same listener.
    expect((await gotunnel(["stop", "pub.local"])).exitCode).toBe(0);
    const again = await inB(curl("web.localhost", pair.a.v4));
    expect(again.stdout).toEndWith("\n403");
    expect((await inA(curl("web.localhost", "::1"))).stdout).toBe(`${UPSTREAM_BODY}\n200`);
  });
});
