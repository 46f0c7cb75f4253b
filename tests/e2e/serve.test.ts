/**
 * The compiled binary serving real routes from each config format, and `start -d NAME -p PORT`, checked with curl
 * trusting only `gotunnel ca`'s certificate (never the system store, never /etc/hosts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { curl, E2EScope, type Gotunnel, REPO_ROOT, requireBinary, runGotunnel } from "../helpers/e2e.ts";
import { startEchoUpstream, type Upstream } from "../helpers/upstreams.ts";

const scope = new E2EScope();
let home = "";
let upstream: Upstream;
/** What `gotunnel ca` printed: the CA file curl trusts. */
let caPath = "";

beforeAll(async () => {
  requireBinary();
  home = scope.dir("home");
  upstream = startEchoUpstream();
  scope.defer(upstream.stop);
  const ca = await runGotunnel(["ca"], { cwd: home, home });
  expect(ca.exitCode).toBe(0);
  caPath = ca.stdout.trim();
});

afterAll(() => scope.dispose());

/** GET https://<name>:<port>/text through the proxy, trusting only the gotunnel CA. */
async function expectServed(gotunnel: Gotunnel, name: string): Promise<void> {
  const response = await curl(`https://${name}:${gotunnel.httpsPort}/text`, { ca: caPath });
  expect(response.stderr).toBe("");
  expect(response.exitCode).toBe(0);
  expect(response.status).toBe(200);
  expect(response.stdout).toBe("hello from upstream");
}

describe("gotunnel ca / version", () => {
  test("`gotunnel ca` prints the CA path under GOTUNNEL_HOME, and --json says it already exists", async () => {
    expect(caPath).toBe(join(home, "ca", "rootCA.pem"));
    const json = await runGotunnel(["ca", "--json"], { cwd: home, home });
    expect(json.exitCode).toBe(0);
    const info = JSON.parse(json.stdout) as { certPath: string; created: boolean };
    expect(info.certPath).toBe(caPath);
    expect(info.created).toBe(false);
  });

  test("`gotunnel ca --pem` prints exactly the certificate on disk", async () => {
    const pem = await runGotunnel(["ca", "--pem"], { cwd: home, home });
    expect(pem.exitCode).toBe(0);
    expect(pem.stdout).toBe(`${readFileSync(caPath, "utf8").trimEnd()}\n`);
  });

  test("`gotunnel --version` and `gotunnel version --json` report package.json's version", async () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
    const short = await runGotunnel(["--version"], { cwd: home, home });
    expect(short.exitCode).toBe(0);
    expect(short.stdout).toBe(`${pkg.version}\n`);
    const long = await runGotunnel(["version", "--json"], { cwd: home, home });
    expect(long.exitCode).toBe(0);
    expect(JSON.parse(long.stdout)).toMatchObject({ version: pkg.version });
  });
});

describe("gotunnel up serves the project's config", () => {
  test("gotunnel.config.ts importing defineConfig from 'gotunnel', with no node_modules anywhere", async () => {
    const dir = scope.project({
      "gotunnel.config.ts": [
        'import { defineConfig } from "gotunnel";',
        `const port: number = ${upstream.port};`,
        'export default defineConfig({ routes: { "myapp.local": port } });',
      ].join("\n"),
    });
    for (let d = dir; dirname(d) !== d; d = dirname(d)) expect(existsSync(join(d, "node_modules"))).toBe(false);
    const gotunnel = await scope.up(dir, home);
    expect(gotunnel.ready.routes).toEqual([
      {
        name: "myapp.local",
        url: `https://myapp.local:${gotunnel.httpsPort}`,
        target: `http://localhost:${upstream.port}`,
      },
    ]);
    expect(gotunnel.ready.ca).toEqual({ path: caPath, created: false });
    await expectServed(gotunnel, "myapp.local");
    expect(await gotunnel.stop()).toBe(0);
  });

  test("gotunnel.config.json", async () => {
    const dir = scope.project({
      "gotunnel.config.json": JSON.stringify({ routes: { "json.local": { target: upstream.port } } }),
    });
    const gotunnel = await scope.up(dir, home);
    expect(gotunnel.ready.routes.map((route) => route.name)).toEqual(["json.local"]);
    await expectServed(gotunnel, "json.local");
    expect(await gotunnel.stop()).toBe(0);
  });

  test("gotunnel.config.yaml", async () => {
    const dir = scope.project({
      "gotunnel.config.yaml": `routes:\n  yaml.local: "127.0.0.1:${upstream.port}"\n`,
    });
    const gotunnel = await scope.up(dir, home);
    expect(gotunnel.ready.routes.map((route) => [route.name, route.target])).toEqual([
      ["yaml.local", `http://127.0.0.1:${upstream.port}`],
    ]);
    await expectServed(gotunnel, "yaml.local");
    expect(await gotunnel.stop()).toBe(0);
  });

  test("a wildcard route serves its subdomains, each verified by curl against the CA", async () => {
    const dir = scope.project({
      "gotunnel.config.json": JSON.stringify({ routes: { "*.shop.local": upstream.port } }),
    });
    const gotunnel = await scope.up(dir, home);
    await expectServed(gotunnel, "eu.shop.local");
    await expectServed(gotunnel, "us.shop.local");
    expect(await gotunnel.stop()).toBe(0);
  });

  test("`--config` names the file to load", async () => {
    const dir = scope.project({
      "elsewhere/custom.json": JSON.stringify({ routes: { "custom.local": upstream.port } }),
    });
    const gotunnel = await scope.up(dir, home, ["--config", "elsewhere/custom.json"]);
    await expectServed(gotunnel, "custom.local");
    expect(await gotunnel.stop()).toBe(0);
  });
});

describe("gotunnel start", () => {
  test("`start -d demo -p PORT` serves https://demo.local", async () => {
    const dir = scope.dir("start");
    const gotunnel = await scope.start(
      ["start", "-d", "demo", "-p", String(upstream.port), "--proxy-https-port", "0", "--proxy-http-port", "0"],
      { cwd: dir, home },
    );
    expect(gotunnel.ready.routes).toEqual([
      {
        name: "demo.local",
        url: `https://demo.local:${gotunnel.httpsPort}`,
        target: `http://localhost:${upstream.port}`,
      },
    ]);
    await expectServed(gotunnel, "demo.local");
    expect(await gotunnel.stop()).toBe(0);
  });

  test("an internationalized name is served under its punycode form", async () => {
    const gotunnel = await scope.start(
      ["start", "-d", "café", "-p", String(upstream.port), "--proxy-https-port", "0", "--proxy-http-port", "0"],
      { cwd: scope.dir("start-idn"), home },
    );
    expect(gotunnel.ready.routes.map((route) => route.name)).toEqual(["xn--caf-dma.local"]);
    await expectServed(gotunnel, "xn--caf-dma.local");
    expect(await gotunnel.stop()).toBe(0);
  });

  test("`start --no-https` serves the route over plain HTTP on the HTTP port", async () => {
    const dir = scope.dir("start-http");
    const gotunnel = await scope.start(
      ["start", "-d", "plain", "-p", String(upstream.port), "--no-https", "--proxy-https-port", "0"],
      { cwd: dir, home, env: { GOTUNNEL_PROXY_HTTP_PORT: "0" } },
    );
    expect(gotunnel.ready.routes[0]?.url).toBe(`http://plain.local:${gotunnel.httpPort}`);
    const response = await curl(`http://plain.local:${gotunnel.httpPort}/text`);
    expect(response.status).toBe(200);
    expect(response.stdout).toBe("hello from upstream");
    expect(await gotunnel.stop()).toBe(0);
  });

  test("`up`'s request log has one JSON line per request to its routes after the ready line", async () => {
    // `start` returns once its route is added; an `up` session is what streams its requests.
    const dir = scope.project({
      "gotunnel.config.json": JSON.stringify({ routes: { "logged.local": upstream.port } }),
    });
    const gotunnel = await scope.start(["up"], {
      cwd: dir,
      home,
      env: { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" },
    });
    await expectServed(gotunnel, "logged.local");
    await gotunnel.stdout.waitFor((line) => line.includes('"path":"/text"'), 10_000);
    expect(gotunnel.requestLog()).toEqual([
      expect.objectContaining({
        method: "GET",
        host: `logged.local:${gotunnel.httpsPort}`,
        path: "/text",
        status: 200,
      }),
    ]);
    expect(await gotunnel.stop()).toBe(0);
  });
});
