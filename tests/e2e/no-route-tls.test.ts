/**
 * A name with no route, over HTTPS, through the compiled binary: a stopped route's name, and a name in the CA's
 * scope that a client asked for, get a certificate for that name and gotunnel's 404 page, not the default
 * certificate and a name-mismatch error (daemon/on-demand.ts, tls/spare.ts). Names outside the scope never get one,
 * and the bounds hold: at most NEW_NAMES_PER_MINUTE new names a minute, at most MAX_SPARE_CERTIFICATES kept.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect } from "node:tls";
import { NEW_NAMES_PER_MINUTE } from "../../src/daemon/on-demand.ts";
import { MAX_SPARE_CERTIFICATES } from "../../src/tls/spare.ts";
import { curl, E2EScope, requireBinary, run, runGotunnel, startEchoRoute } from "../helpers/e2e.ts";
import { lanClient, startLanDaemon } from "../helpers/lan-client.ts";
import { eventually } from "../helpers/netns.ts";

const scope = new E2EScope();
/** curl processes at once: the machine has two cores. */
const BATCH = 20;
/** The daemon that served removed.localhost, then stopped it. */
let daemon: { home: string; ca: string; https: number; http: number };

beforeAll(async () => {
  requireBinary();
  const { home, url, ca } = await startEchoRoute(scope, "removed.localhost", {});
  daemon = { home, ca, ...(await portsOf(home)) };
  expect(new URL(url).port).toBe(String(daemon.https));
  const stopped = await runGotunnel(["stop", "removed.localhost"], { cwd: home, home });
  expect(stopped.exitCode).toBe(0);
});

afterAll(() => scope.dispose());

async function portsOf(home: string): Promise<{ https: number; http: number }> {
  const status = await runGotunnel(["status", "--json"], { cwd: home, home });
  expect(status.exitCode).toBe(0);
  return (JSON.parse(status.stdout) as { ports: { https: number; http: number } }).ports;
}

/** `openssl s_client` with SNI and host-name checking against `name`, trusting only the gotunnel CA. */
function handshake(name: string, port = daemon.https, ca = daemon.ca) {
  const argv = ["openssl", "s_client", "-connect", `127.0.0.1:${port}`, "-servername", name];
  return run([...argv, "-verify_hostname", name, "-CAfile", ca, "-verify_return_error"]);
}

/** Whether a TLS client sending SNI `name` and trusting only `ca` accepts the certificate it is served. */
function verifies(name: string, port: number, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, servername: name, ca: readFileSync(ca, "utf8") }, () => {
      resolve(socket.authorized);
      socket.destroy();
    });
    socket.on("error", () => resolve(false));
  });
}

describe("a stopped route's name", () => {
  test("still verifies with the CA (no name mismatch)", async () => {
    const result = await handshake("removed.localhost");
    expect(result.stdout + result.stderr).toContain("Verify return code: 0 (ok)");
    expect(result.stdout).toContain("subject=CN = removed.localhost");
  });

  test("gets gotunnel's 404 page over verified HTTPS", async () => {
    const response = await curl(`https://removed.localhost:${daemon.https}/some/page`, { ca: daemon.ca });
    expect(response.stderr).toBe("");
    expect(response.status).toBe(404);
    expect(response.stdout).toContain('No gotunnel route for "removed.localhost');
  });
});

describe("a name in scope that no route ever had", () => {
  test("gets a certificate once the daemon has heard of it, then the 404 page over HTTPS", async () => {
    // Bun.serve has no hook for an unknown SNI: the first HTTPS handshake gets the default certificate.
    expect((await handshake("typo.localhost")).exitCode).not.toBe(0);
    const overHttp = await curl(`http://typo.localhost:${daemon.http}/`);
    expect(overHttp.status).toBe(404);
    // Polled through curl, which verifies: until the replaced listener stops accepting (it drains while clients
    // still use it, server.ts retire), a new connection may still land on it and get the default certificate.
    const served = async () => {
      const response = await curl(`https://typo.localhost:${daemon.https}/`, { ca: daemon.ca });
      return response.status === 404 ? response : undefined;
    };
    const response = await eventually(served, "the 404 page for typo.localhost over verified HTTPS");
    expect(response.stdout).toContain('No gotunnel route for "typo.localhost');
  });

  test("a name outside the CA's scope gets no certificate", async () => {
    for (const name of ["example.com", "localhost.example", "typo.localhost.com"]) {
      expect((await curl(`http://${name}:${daemon.http}/`)).status).toBe(404);
    }
    // The in-scope name asked for after them is issued; so by then the out-of-scope ones would have been too.
    expect((await curl(`http://later.test:${daemon.http}/`)).status).toBe(404);
    await eventually(async () => (await handshake("later.test")).exitCode === 0 || undefined, "later.test issued");
    for (const name of ["example.com", "localhost.example", "typo.localhost.com"]) {
      const result = await handshake(name);
      expect(result.exitCode).not.toBe(0);
      expect(result.stdout).not.toContain(`CN = ${name}`);
    }
  });
});

describe("a route change while names are being issued", () => {
  test("is not undone by the listener swap that serves the new certificates", async () => {
    const { home, upstream, ca } = await startEchoRoute(scope, "stays.localhost", {});
    const ports = await portsOf(home);
    let asking = true;
    // New names over HTTP all along, so that certificate swaps queue up around the route change.
    const ask = (async () => {
      for (let i = 0; asking; i++) {
        await fetch(`http://127.0.0.1:${ports.http}/`, { headers: { host: `ask${i}.localhost` } });
        await Bun.sleep(15);
      }
    })();
    const started = await runGotunnel(["start", "-d", "added.localhost", "-p", String(upstream.port)], {
      cwd: home,
      home,
    });
    asking = false;
    await ask;
    expect(started.exitCode).toBe(0);
    // The first on-demand certificate served means its swap ran; a moment more covers any queued behind it.
    await eventually(
      async () => (await handshake("ask0.localhost", ports.https, ca)).exitCode === 0 || undefined,
      "ask0",
    );
    await Bun.sleep(1_000);
    const response = await curl(`https://added.localhost:${ports.https}/`, { ca });
    expect(response.stderr).toBe("");
    expect(response.status).toBe(200);
  });
});

describe("bounds", () => {
  test(`200 new names in a burst: at most ${NEW_NAMES_PER_MINUTE} get a certificate, the rest the default`, async () => {
    const { home, ca } = await startEchoRoute(scope, "burst.localhost", {});
    const ports = await portsOf(home);
    const names = Array.from({ length: 200 }, (_, i) => `n${i}.burst-names.localhost`);
    const statuses: number[] = [];
    for (let i = 0; i < names.length; i += BATCH) {
      const batch = names.slice(i, i + BATCH).map((name) => curl(`http://${name}:${ports.http}/`));
      statuses.push(...(await Promise.all(batch)).map((response) => response.status));
    }
    expect(new Set(statuses)).toEqual(new Set([404]));
    const verifiedCount = async () =>
      (await Promise.all(names.map((name) => verifies(name, ports.https, ca)))).filter(Boolean).length;
    // Wait until the issued names are served (the swap follows the signatures), then check none beyond the limit.
    await eventually(async () => ((await verifiedCount()) > 0 ? true : undefined), "the first names served");
    await Bun.sleep(1_000);
    const verified = await verifiedCount();
    expect(verified).toBeGreaterThan(0);
    expect(verified).toBeLessThanOrEqual(NEW_NAMES_PER_MINUTE);
    // The route itself is unaffected.
    expect(await verifies("burst.localhost", ports.https, ca)).toBe(true);
  });

  test(`removing ${MAX_SPARE_CERTIFICATES + 5} routes keeps the certificates of the ${MAX_SPARE_CERTIFICATES} removed last`, async () => {
    const home = scope.dir("many");
    const names = Array.from({ length: MAX_SPARE_CERTIFICATES + 5 }, (_, i) => `r${i}.many.localhost`);
    const routes = Object.fromEntries(names.map((name) => [name, 1]));
    const dir = scope.project({ "gotunnel.config.json": JSON.stringify({ routes }) });
    const up = await scope.up(dir, home);
    const https = up.httpsPort;
    expect(await verifies(names[0] ?? "", https, up.caPath)).toBe(true);
    // `up` ends: its routes are removed in one change, the first issued first; the oldest are dropped.
    await up.stop();
    const kept = async () => {
      const verified = (await Promise.all(names.map((name) => verifies(name, https, up.caPath)))).filter(Boolean);
      if (verified.length !== MAX_SPARE_CERTIFICATES) throw new Error(`${verified.length} names verify`);
      return verified.length;
    };
    expect(await eventually(kept, `${MAX_SPARE_CERTIFICATES} names verifying`)).toBe(MAX_SPARE_CERTIFICATES);
    expect(await verifies(names[0] ?? "", https, up.caPath)).toBe(false);
    expect(await verifies(names.at(-1) ?? "", https, up.caPath)).toBe(true);
  });
});

describe.skipIf(lanClient.skip)(lanClient.title("a client on another machine"), () => {
  test("gets the 404 page but no certificate for a name it made up; a loopback client's name gets one", async () => {
    const { pair, ready, inA, inB } = await startLanDaemon(scope, ["-d", "web.localhost", "-p", "39999"]);
    const ask = (host: string) => ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", `Host: ${host}`];
    const verifyIn = (name: string) =>
      inA(
        ["openssl", "s_client", "-connect", `127.0.0.1:${ready.ports.https}`, "-servername", name].concat([
          "-verify_hostname",
          name,
          "-CAfile",
          ready.ca.path,
          "-verify_return_error",
        ]),
      );

    const lan = await inB([...ask("probe.localhost"), `http://${pair.a.v4}:${ready.ports.http}/`]);
    expect(lan.stdout).toBe("404");
    const local = await inA([...ask("mine.localhost"), `http://127.0.0.1:${ready.ports.http}/`]);
    expect(local.stdout).toBe("404");
    // The loopback client's name is issued after the LAN client's was asked for, so by then that one would be too.
    await eventually(async () => (await verifyIn("mine.localhost")).exitCode === 0 || undefined, "mine.localhost");
    expect((await verifyIn("probe.localhost")).exitCode).not.toBe(0);
  });
});
