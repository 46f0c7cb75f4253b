/**
 * Device onboarding and the `lan` option through the compiled binary and a real daemon (temp home, temp hosts file,
 * ephemeral loopback ports): the HTTP listener hands out the CA for any Host, and each route's `lan` travels from
 * the config through `up` into the daemon's table and state file.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { run, runGotunnel, withEchoUpstream } from "../helpers/e2e.ts";

const PORTS = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };
const file = withEchoUpstream();
const { scope } = file;

describe("onboarding on the daemon's HTTP listener", () => {
  test("/_gotunnel/gotunnel-ca.crt is the CA in DER, for any Host, matching `gotunnel ca --json`", async () => {
    const home = scope.dir("home");
    // lan: true on the route lists it on the page even under the GOTUNNEL_LAN=0 tests run with (helpers/e2e.ts),
    // which keeps the daemon itself on loopback.
    const project = scope.project({
      "gotunnel.config.json": JSON.stringify({ routes: { myapp: { target: file.upstream.port, lan: true } } }),
    });
    const started = await scope.start(["up", "--detach"], { cwd: project, home, env: PORTS });
    const der = join(scope.dir("download"), "ca.crt");
    for (const host of ["myapp.local", "192.168.1.20", "anything.example"]) {
      const url = `http://127.0.0.1:${started.httpPort}/_gotunnel/gotunnel-ca.crt`;
      const fetched = await run(["curl", "-sS", "-f", "-H", `Host: ${host}`, "-o", der, url]);
      expect(fetched.exitCode).toBe(0);
      const openssl = await run(["openssl", "x509", "-inform", "DER", "-in", der, "-noout", "-fingerprint", "-sha256"]);
      expect(openssl.exitCode).toBe(0);
      const ca = await runGotunnel(["ca", "--json"], { cwd: home, home, env: PORTS });
      const { fingerprintSha256 } = JSON.parse(ca.stdout) as { fingerprintSha256: string };
      const fingerprint = openssl.stdout.trim().split("=")[1]?.replaceAll(":", "").toLowerCase();
      expect(fingerprint).toBe(fingerprintSha256.replaceAll(":", "").toLowerCase());
    }
    const page = await run(["curl", "-sS", `http://127.0.0.1:${started.httpPort}/_gotunnel/`]);
    // The page lists the route to open once the CA is trusted.
    expect(page.stdout.includes(`href="https://myapp.local:${started.httpsPort}"`)).toBe(true);
  });
});

describe("lan travels from the config to the daemon", () => {
  test("a route's own lan, else the config's global lan, is listed and persisted", async () => {
    const home = scope.dir("home");
    const project = scope.project({
      "gotunnel.config.json": JSON.stringify({
        lan: false,
        routes: { "open.local": { target: file.upstream.port, lan: true }, "closed.local": file.upstream.port },
      }),
    });
    await scope.start(["up", "--detach"], { cwd: project, home, env: PORTS });
    const list = await runGotunnel(["list", "--json"], { cwd: project, home, env: PORTS });
    const routes = (JSON.parse(list.stdout) as { routes: { name: string; lan?: boolean }[] }).routes;
    expect(routes.map((route) => [route.name, route.lan])).toEqual([
      ["closed.local", false],
      ["open.local", true],
    ]);
    const state = JSON.parse(readFileSync(join(home, "state", "routes.json"), "utf8")) as {
      routes: { name: string; lan?: boolean }[];
    };
    expect(state.routes.map((route) => [route.name, route.lan])).toEqual([
      ["closed.local", false],
      ["open.local", true],
    ]);
    // The daemon's own GOTUNNEL_LAN=0 outranks the route's lan: true: this machine stays off the network.
    const log = readFileSync(join(home, "state", "daemon.log"), "utf8");
    // Loopback only: 127.0.0.1, and ::1 where this machine has it (daemon/lan.ts listenHosts).
    expect(log).toMatch(/ready on 127\.0\.0\.1( and ::1)?:/);
    expect(log).not.toContain("0.0.0.0");
  });
});
