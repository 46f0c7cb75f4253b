/**
 * Real browsers over h2 through the compiled daemon (issue 16): headless Chromium and Firefox load a page from a
 * gotunnel name, the page opens a WebSocket to the same name and reports back how it went. gotunnel offers no
 * RFC 8441 extended CONNECT (Bun.serve does not; tests/e2e/http2.test.ts), so each browser must fall back to an
 * HTTP/1.1 connection for the socket while the page itself came over h2. Each browser trusts gotunnel's CA through
 * its own NSS database in a temp profile (certutil), never by ignoring certificate errors. Kept minimal: the
 * framework HMR tests (Vite, Next) drive the same path with real dev servers.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Server, Subprocess } from "bun";
import { E2EScope, type Gotunnel, requireBinary, run } from "../helpers/e2e.ts";
import { requireAll, requireTools } from "../helpers/tools.ts";

const NAME = "h2app.local";
/** Headless start-up, page load and socket; a hang is caught by this, not by the test timeout. */
const REPORT_TIMEOUT_MS = 60_000;
const chromium = requireAll(requireTools("chromium", "certutil"));
const firefox = requireAll(requireTools("firefox-esr", "certutil"));

/** What the page found out, POSTed to /report. */
interface Report {
  /** The page's own load: "h2" or "http/1.1" (Navigation Timing's nextHopProtocol). */
  page: string;
  /** A script fetched by the page after the socket opened. */
  script?: string;
  /** The WebSocket's echo of "ping", and the subprotocol it negotiated. */
  echo?: string;
  subprotocol?: string;
  error?: string;
}

/** The page: open wss://<same name>/hmr (as Vite's client does, with its subprotocol), then report. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>h2 + WebSocket</title>
<script type="module">
const result = { page: performance.getEntriesByType("navigation")[0].nextHopProtocol };
const report = () => fetch("/report", { method: "POST", body: JSON.stringify(result) });
const socket = new WebSocket("wss://" + location.host + "/hmr", "vite-hmr");
socket.onopen = () => socket.send("ping");
socket.onerror = () => { result.error = "the WebSocket failed"; report(); };
socket.onmessage = async (event) => {
  result.echo = String(event.data);
  result.subprotocol = socket.protocol;
  await import("/module.js");
  result.script = performance.getEntriesByName(new URL("/module.js", location.href).href)[0].nextHopProtocol;
  report();
};
</script>`;

const scope = new E2EScope();
let gotunnel: Gotunnel;
let upstream: Server<undefined>;
let reports: ((report: Report) => void)[] = [];
const handshakes: { protocol: string | null; host: string | null }[] = [];

beforeAll(async () => {
  requireBinary();
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req, server) {
      const path = new URL(req.url).pathname;
      if (path === "/hmr") {
        handshakes.push({ protocol: req.headers.get("sec-websocket-protocol"), host: req.headers.get("host") });
        const headers = { "sec-websocket-protocol": "vite-hmr" };
        return server.upgrade(req, { headers, data: undefined }) ? undefined : new Response("no", { status: 400 });
      }
      if (path === "/report") {
        const report = (await req.json()) as Report;
        for (const resolve of reports) resolve(report);
        reports = [];
        return new Response(null, { status: 204 });
      }
      if (path === "/module.js") return new Response("export {};", { headers: { "content-type": "text/javascript" } });
      return new Response(PAGE, {
        headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
      });
    },
    websocket: {
      message(ws, message) {
        ws.send(`pong:${message}`);
      },
    },
  });
  scope.defer(() => upstream.stop(true));
  const dir = scope.project({ "gotunnel.config.json": JSON.stringify({ routes: { [NAME]: upstream.port } }) });
  gotunnel = await scope.up(dir, scope.dir("home"));
});

afterAll(() => scope.dispose());

/** Adds gotunnel's CA to the NSS database in `dir` (created empty first), as trusted for TLS servers. */
async function trustIn(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const database = `sql:${dir}`;
  for (const argv of [
    ["certutil", "-N", "-d", database, "--empty-password"],
    ["certutil", "-A", "-d", database, "-t", "C,,", "-n", "gotunnel test CA", "-i", gotunnel.caPath],
  ]) {
    const result = await run(argv);
    if (result.exitCode !== 0) throw new Error(`${argv.join(" ")} failed: ${result.stderr}`);
  }
}

/** Starts a browser on the page and waits for its report; the browser's process group is killed after. */
async function reportFrom(argv: string[], env: Record<string, string>): Promise<Report> {
  const reported = new Promise<Report>((resolve) => reports.push(resolve));
  const browser: Subprocess<"ignore", "pipe", "pipe"> = Bun.spawn(argv, {
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    detached: true,
  });
  scope.defer(() => killGroup(browser.pid));
  const output = Promise.all([new Response(browser.stdout).text(), new Response(browser.stderr).text()]);
  const timeout = Bun.sleep(REPORT_TIMEOUT_MS).then(() => undefined);
  const report = await Promise.race([reported, timeout, browser.exited.then(() => undefined)]);
  killGroup(browser.pid);
  if (report) return report;
  const [stdout, stderr] = await output;
  throw new Error(`${argv[0]} sent no report (exit ${browser.exitCode}):\n${stdout}\n${stderr.slice(-3000)}`);
}

/** Kills a browser's process group (its renderers, GPU and network processes with it). */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch (error) {
    // ESRCH: the browser already exited, and its group with it.
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

const pageUrl = () => `https://${NAME}:${gotunnel.httpsPort}/`;

const hmrLines = () => gotunnel.requestLog().filter((line) => line.path === "/hmr");
/** How long the upgrade's request-log line may take to travel from the daemon to `up`'s output (a busy machine). */
const LOG_LINE_TIMEOUT_MS = 10_000;

/** `upgradesBefore`: the /hmr lines logged before this browser started; its own is the next one. */
async function expectH2PageAndSocket(report: Report, upgradesBefore: number): Promise<void> {
  expect(report).toEqual({ page: "h2", echo: "pong:ping", subprotocol: "vite-hmr", script: "h2" });
  const handshake = handshakes.at(-1);
  expect(handshake).toEqual({ protocol: "vite-hmr", host: `${NAME}:${gotunnel.httpsPort}` });
  await gotunnel.stdout.waitFor(() => hmrLines().length > upgradesBefore, LOG_LINE_TIMEOUT_MS);
  expect(hmrLines().at(-1)).toEqual(expect.objectContaining({ method: "GET", status: 101, route: NAME }));
}

describe.skipIf(chromium.skip)(chromium.title("headless Chromium"), () => {
  test(
    "loads the page over h2 and opens the WebSocket through gotunnel (HTTP/1.1), the CA trusted through NSS",
    async () => {
      const home = scope.dir("chromium-home");
      await trustIn(join(home, ".pki", "nssdb"));
      const argv = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${scope.dir("chromium-profile")}`,
        `--host-resolver-rules=MAP ${NAME} 127.0.0.1`,
        pageUrl(),
      ];
      const before = hmrLines().length;
      const report = await reportFrom(argv, { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home });
      await expectH2PageAndSocket(report, before);
    },
    REPORT_TIMEOUT_MS + 30_000,
  );
});

/** Prefs for a quiet, local-only headless Firefox: every name resolves to 127.0.0.1, no DNS over HTTPS. */
const FIREFOX_PREFS = {
  "network.dns.forceResolve": "127.0.0.1",
  "network.trr.mode": 5,
  "network.proxy.type": 0,
  "security.enterprise_roots.enabled": false,
  "browser.shell.checkDefaultBrowser": false,
  "browser.startup.homepage_override.mstone": "ignore",
  "datareporting.policy.dataSubmissionEnabled": false,
  "toolkit.telemetry.reportingpolicy.firstRun": false,
  "app.update.disabledForTesting": true,
  "browser.aboutwelcome.enabled": false,
};

describe.skipIf(firefox.skip)(firefox.title("headless Firefox"), () => {
  test(
    "loads the page over h2 and opens the WebSocket through gotunnel (HTTP/1.1), the CA trusted through the profile's NSS db",
    async () => {
      const profile = scope.dir("firefox-profile");
      await trustIn(profile);
      const prefs = Object.entries(FIREFOX_PREFS).map(
        ([key, value]) => `user_pref(${JSON.stringify(key)}, ${JSON.stringify(value)});`,
      );
      writeFileSync(join(profile, "user.js"), `${prefs.join("\n")}\n`);
      const argv = ["firefox-esr", "--headless", "--no-remote", "--profile", profile, pageUrl()];
      const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: scope.dir("firefox-home"), MOZ_HEADLESS: "1" };
      const before = hmrLines().length;
      await expectH2PageAndSocket(await reportFrom(argv, env), before);
    },
    REPORT_TIMEOUT_MS + 30_000,
  );
});
