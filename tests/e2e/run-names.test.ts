/**
 * `gotunnel run -- <command>` through the compiled binary: Node, Bun (`bun test`, `bun run`), Python (pytest with
 * requests and urllib) and curl reach https://myapp.local BY NAME, with full certificate verification and no flag,
 * while the hosts file stays untouched and gotunnel has no privilege to change anything. Names that are not routes
 * resolve as before, and nothing is left behind, also when the command is killed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { BINARY, binaryEnv, freePort, hostsFileOf, requireBinary } from "../helpers/e2e.ts";
import { requireAll, requirement, requireTools } from "../helpers/tools.ts";

const HOSTS = "127.0.0.1 localhost\n";
const home = mkdtempSync(join(tmpdir(), "gotunnel-run-names-e2e-"));
const project = join(home, "project");
/**
 * `bun` by that name, as the commands call it: the Bun running this test may be a file named `bun.exe` (the npm
 * package's, which scripts/bun.mjs uses), so a link named `bun` to it goes first on the command's PATH.
 */
const bunBin = join(home, "bin");
mkdirSync(bunBin);
symlinkSync(process.execPath, join(bunBin, "bun"));
let upstream: Server<undefined>;

/** The first python3 on PATH, as an absolute path (a pyenv shim needs the HOME the binary does not pass on). */
function findPython(): { path?: string; reason?: string } {
  const probe = Bun.spawnSync(["python3", "-c", "import sys, requests, pytest; print(sys.executable)"], {
    stderr: "pipe",
  });
  if (probe.exitCode === 0) return { path: probe.stdout.toString().trim() };
  return { reason: "needs python3 with requests and pytest: apt-get install python3-requests python3-pytest" };
}
const python = findPython();

beforeAll(() => {
  requireBinary();
  upstream = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req, server) {
      if (server.upgrade(req)) return undefined;
      return new Response(`upstream ${new URL(req.url).pathname} ua=${req.headers.get("user-agent")}`);
    },
    websocket: {
      message(ws, message) {
        ws.send(`echo ${message}`);
      },
    },
  });
  mkdirSync(project, { recursive: true });
  const routes = { "myapp.local": upstream.port, "*.wild.local": upstream.port };
  writeFileSync(join(project, "gotunnel.config.json"), JSON.stringify({ routes }));
  for (const [name, text] of Object.entries(SCRIPTS)) writeFileSync(join(project, name), text);
  // A sitecustomize of the user's own, which the run's must not hide.
  mkdirSync(join(home, "python"));
  writeFileSync(join(home, "python", "sitecustomize.py"), 'import os\nos.environ["USER_SITECUSTOMIZE"] = "ran"\n');
  writeFileSync(hostsFileOf(home), HOSTS);
});
afterAll(() => {
  upstream?.stop(true);
  rmSync(home, { recursive: true, force: true });
  rmSync(hostsFileOf(home), { force: true });
});

/** What each runtime runs: a route by name, a wildcard route, `localhost`, and a `.local` name that is no route. */
const SCRIPTS: Record<string, string> = {
  "reach.mjs": `
import https from "node:https";
const url = process.env.GOTUNNEL_URL_MYAPP_LOCAL;
const text = (response) => response.text();
const failure = (error) => "failed: " + (error.cause?.code ?? error.code ?? error.message);
console.log("fetch:", await fetch(url + "/fetch").then(text, failure));
console.log("wildcard:", await fetch(url.replace("myapp.local", "a.wild.local") + "/wildcard").then(text, failure));
console.log("https:", await new Promise((resolve) => https.get(url + "/https", (response) => {
  let body = "";
  response.on("data", (chunk) => (body += chunk)).on("end", () => resolve(body));
}).on("error", (error) => resolve(failure(error)))));
console.log("localhost:", await fetch("http://localhost:" + process.env.UPSTREAM_PORT + "/direct").then(text, failure));
console.log("no route:", await fetch("https://no-route.local/").then(text, failure));
`,
  "reach.test.ts": `
import { expect, test } from "bun:test";
const url = process.env.GOTUNNEL_URL_MYAPP_LOCAL!;
test("fetch by name", async () => {
  expect(await (await fetch(url + "/bun-test")).text()).toStartWith("upstream /bun-test");
});
test("node:https by name", async () => {
  const https = await import("node:https");
  const body = await new Promise<string>((resolve, reject) => https.get(url + "/bun-https", (response) => {
    let text = "";
    response.on("data", (chunk) => (text += chunk)).on("end", () => resolve(text));
  }).on("error", reject));
  expect(body).toStartWith("upstream /bun-https");
});
test("WebSocket by name", async () => {
  const socket = new WebSocket(url.replace("https:", "wss:") + "/socket");
  const reply = await new Promise((resolve, reject) => {
    socket.onopen = () => socket.send("hi");
    socket.onmessage = (event) => resolve(event.data);
    socket.onerror = () => reject(new Error("WebSocket failed"));
  });
  socket.close();
  expect(reply).toBe("echo hi");
});
test("Workers (Web and node:worker_threads) by name", async () => {
  const { Worker: ThreadWorker } = await import("node:worker_threads");
  const job = "fetch(process.env.GOTUNNEL_URL_MYAPP_LOCAL + '/worker').then((r) => r.text()).then(";
  const web = new Worker(URL.createObjectURL(new Blob([job + "(text) => postMessage(text))"])));
  const thread = new ThreadWorker(job + "(text) => require('node:worker_threads').parentPort.postMessage(text))", { eval: true });
  const replies = await Promise.all([
    new Promise((resolve) => (web.onmessage = (event) => resolve(event.data))),
    new Promise((resolve) => thread.once("message", resolve)),
  ]);
  web.terminate();
  await thread.terminate();
  expect(replies).toEqual(["upstream /worker ua=Bun/" + Bun.version, "upstream /worker ua=Bun/" + Bun.version]);
});
test("names that are not routes resolve as before", async () => {
  expect(await (await fetch("http://localhost:" + process.env.UPSTREAM_PORT + "/direct")).text()).toStartWith("upstream /direct");
  expect(fetch("https://no-route.local/")).rejects.toThrow();
});
`,
  "test_reach.py": `
import os
import socket
import urllib.request

import requests

URL = os.environ["GOTUNNEL_URL_MYAPP_LOCAL"]


def test_requests_by_name():
    assert requests.get(URL + "/requests").text.startswith("upstream /requests")


def test_urllib_by_name():
    assert urllib.request.urlopen(URL + "/urllib").read().decode().startswith("upstream /urllib")


def test_wildcard_by_name():
    assert requests.get(URL.replace("myapp.local", "a.wild.local") + "/py-wildcard").ok


def test_other_names_resolve_as_before():
    direct = "http://localhost:" + os.environ["UPSTREAM_PORT"] + "/direct"
    assert urllib.request.urlopen(direct).read().decode().startswith("upstream /direct")
    try:
        socket.getaddrinfo("no-route.local", 443)
    except socket.gaierror:
        return
    raise AssertionError("no-route.local resolved")


def test_the_users_own_sitecustomize_still_ran():
    assert os.environ.get("USER_SITECUSTOMIZE") == "ran"
`,
};

function runTemps(): string[] {
  return readdirSync(tmpdir()).filter((name) => name.startsWith("gotunnel-run-") && !home.endsWith(name));
}

async function gotunnelRun(command: string[], extraEnv: Record<string, string> = {}) {
  const proc = Bun.spawn([BINARY, "run", "--", ...command], {
    cwd: project,
    env: binaryEnv(home, {
      // The Bun that runs this test, for `bun test` and `bun run` under gotunnel.
      PATH: `${bunBin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
      UPSTREAM_PORT: String(upstream.port),
      ...extraEnv,
    }),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, exitCode };
}

const NODE_OUTPUT = [
  "fetch: upstream /fetch ua=node",
  "wildcard: upstream /wildcard ua=node",
  "https: upstream /https ua=null",
  "localhost: upstream /direct ua=node",
  "no route: failed: ENOTFOUND",
  "",
].join("\n");

const BUN_OUTPUT = NODE_OUTPUT.replaceAll("ua=node", `ua=Bun/${Bun.version}`);

const node = requireTools("node");
const curl = requireTools("curl");
const pytest = requirement(python.reason);

describe("gotunnel run: every runtime reaches the routes by name", () => {
  test.skipIf(node.skip)(
    node.title("node: fetch, node:https and a wildcard route by name"),
    async () => {
      const before = runTemps();
      const result = await gotunnelRun(["node", "reach.mjs"]);
      expect(result.stdout).toBe(NODE_OUTPUT);
      expect(result.exitCode).toBe(0);
      expect(runTemps()).toEqual(before);
      expect(await Bun.file(hostsFileOf(home)).text()).toBe(HOSTS);
    },
    60_000,
  );

  test("bun test: fetch, node:https, WebSocket and Workers by name", async () => {
    const result = await gotunnelRun(["bun", "test", "reach.test.ts"]);
    expect(result.stderr).toContain(" 5 pass");
    expect(result.stderr).toContain(" 0 fail");
    expect(result.exitCode).toBe(0);
  }, 60_000);

  test("bun run: a script reaches the routes by name", async () => {
    const result = await gotunnelRun(["bun", "run", "reach.mjs"]);
    expect(result.stdout).toBe(BUN_OUTPUT);
    expect(result.exitCode).toBe(0);
  }, 60_000);

  test.skipIf(pytest.skip)(
    pytest.title("python3 -m pytest: requests and urllib by name"),
    async () => {
      const command = [python.path ?? "python3", "-m", "pytest", "-q", "-p", "no:cacheprovider"];
      const result = await gotunnelRun(command, { PYTHONPATH: join(home, "python") });
      expect(result.stdout).toContain("5 passed");
      expect(result.exitCode).toBe(0);
    },
    60_000,
  );

  test.skipIf(curl.skip)(
    curl.title("curl: the URL alone, and the user's own .curlrc still applies"),
    async () => {
      writeFileSync(join(home, ".curlrc"), 'user-agent = "from-the-users-curlrc"\n');
      try {
        const script =
          'curl -sSf "$GOTUNNEL_URL_MYAPP_LOCAL/curl"; echo; curl -sSf "http://localhost:$UPSTREAM_PORT/x"';
        const result = await gotunnelRun(["sh", "-c", script]);
        expect(result.stdout).toBe("upstream /curl ua=from-the-users-curlrc\nupstream /x ua=from-the-users-curlrc");
        expect(result.exitCode).toBe(0);
      } finally {
        rmSync(join(home, ".curlrc"));
      }
    },
    60_000,
  );
});

describe("gotunnel run: the name hooks in unusual environments", () => {
  const all = requireAll(node, curl, pytest);

  test.skipIf(all.skip)(
    all.title("a proxy in the environment: route names bypass it, in every runtime"),
    async () => {
      // A CI proxy cannot resolve our names; here it does not even exist, so any request sent to it fails.
      const deadProxy = `http://127.0.0.1:${await freePort()}`;
      const script = [
        'curl -sSf -A curl "$GOTUNNEL_URL_MYAPP_LOCAL/curl" && echo',
        "node reach.mjs | head -1",
        "bun reach.mjs | head -1",
        `"${python.path}" -m pytest -q -p no:cacheprovider -k by_name | tail -1`,
      ].join(" && ");
      const result = await gotunnelRun(["sh", "-c", script], { HTTPS_PROXY: deadProxy, https_proxy: deadProxy });
      const lines = result.stdout.trim().split("\n");
      expect(lines.slice(0, 3)).toEqual([
        "upstream /curl ua=curl",
        "fetch: upstream /fetch ua=node",
        `fetch: upstream /fetch ua=Bun/${Bun.version}`,
      ]);
      expect(lines[3]).toStartWith("3 passed");
    },
    90_000,
  );

  test.skipIf(node.skip)(
    node.title("a temp dir with a space in its path: the preload options stay one token"),
    async () => {
      const spaced = join(home, "temp dir");
      mkdirSync(spaced, { recursive: true });
      const script = "node reach.mjs | head -1 && bun reach.mjs | head -1";
      const result = await gotunnelRun(["sh", "-c", script], { TMPDIR: spaced, NODE_OPTIONS: "--no-deprecation" });
      expect(result.stdout).toBe(`fetch: upstream /fetch ua=node\nfetch: upstream /fetch ua=Bun/${Bun.version}\n`);
      expect(readdirSync(spaced)).toEqual([]);
    },
    60_000,
  );

  test("a killed command: the hook files are gone when run returns, and nothing was written to HOME", async () => {
    const before = runTemps();
    const homeBefore = readdirSync(home).sort();
    // The command reports where its hooks are, checks they exist, and kills itself with SIGKILL.
    const script = 'test -f "$CURL_HOME/.curlrc" && echo "$CURL_HOME" && echo "$BUN_OPTIONS" && kill -9 $$';
    const result = await gotunnelRun(["sh", "-c", script]);
    expect(result.exitCode).toBe(128 + 9);
    const [curlHome = "", bunOptions = ""] = result.stdout.trim().split("\n");
    expect(curlHome).toContain("gotunnel-run-");
    expect(existsSync(curlHome)).toBe(false);
    expect(existsSync(bunOptions.replace("--preload=", ""))).toBe(false);
    expect(runTemps()).toEqual(before);
    expect(readdirSync(home).sort()).toEqual(homeBefore);
  }, 60_000);
});
