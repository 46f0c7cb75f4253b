/**
 * Sentry through the compiled binary and the real @sentry/bun, against a local receiver standing in for
 * sentry.io: a genuine daemon failure (a hosts file under a regular file: ENOTDIR, which stops root too) arrives as
 * an envelope tagged component/category with our release and environment, and the raw envelope holds no domain, IP,
 * path, username or host name. GOTUNNEL_TELEMETRY=0, DO_NOT_TRACK=1 and a missing DSN each send nothing at all.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import { gunzipSync, inflateSync } from "node:zlib";
import { curl, E2EScope, type ReadyEvent, requireBinary, runGotunnel, stopDaemonOf } from "../helpers/e2e.ts";

const scope = new E2EScope();
afterAll(() => scope.dispose());

const PORTS = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };
/** A login name the scrubber can only know from USER/LOGNAME; it is also part of the home path. */
const MARKER_USER = "zorkuser";
const DOMAIN = "secret-project";
const ENVELOPE_WAIT_MS = 10_000;

interface Item {
  header: { type?: string };
  payload: Record<string, unknown>;
}

/** Newline-delimited JSON: the envelope header, then item header / payload pairs (ours are all JSON). */
function parseEnvelope(text: string): Item[] {
  const lines = text.split("\n").filter((line) => line.trim() !== "");
  const items: Item[] = [];
  for (let i = 1; i + 1 < lines.length; i += 2) {
    items.push({ header: JSON.parse(lines[i] ?? "{}"), payload: JSON.parse(lines[i + 1] ?? "{}") });
  }
  return items;
}

/** sentry.io's envelope endpoint on 127.0.0.1:0; the fetch transport sends plain bodies, compressed ones are undone. */
function receiver() {
  const envelopes: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const body = new Uint8Array(await req.arrayBuffer());
      const encoding = req.headers.get("content-encoding");
      const raw = encoding === "gzip" ? gunzipSync(body) : encoding === "deflate" ? inflateSync(body) : body;
      if (new URL(req.url).pathname === "/api/1/envelope/") envelopes.push(new TextDecoder().decode(raw));
      return Response.json({});
    },
  });
  scope.defer(() => server.stop(true));
  return { envelopes, dsn: `http://publickey@127.0.0.1:${server.port}/1` };
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await Bun.sleep(50);
}

/**
 * Starts a daemon (through `gotunnel start`) whose hosts file cannot be written, with a route on DOMAIN pointing at
 * an upstream port, then stops it (the daemon flushes Sentry on its way out). Returns what must never be sent.
 */
async function runFailingDaemon(env: Record<string, string>) {
  const home = scope.dir(`home-${MARKER_USER}`);
  const notADirectory = join(home, "not-a-directory");
  writeFileSync(notADirectory, "a regular file\n");
  // The user config file: every daemon operation becomes a performance transaction (the staging profile samples 20%).
  mkdirSync(join(home, "config"));
  writeFileSync(join(home, "config", "config.json"), JSON.stringify({ observability: { sentryTracesSampleRate: 1 } }));
  const hostsFile = join(notADirectory, "hosts");
  const upstream = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ok") });
  scope.defer(() => upstream.stop(true));
  const daemonEnv = { ...PORTS, GOTUNNEL_HOSTS_FILE: hostsFile, USER: MARKER_USER, LOGNAME: MARKER_USER, ...env };
  const start = await runGotunnel(["start", "-d", DOMAIN, "-p", String(upstream.port), "--json"], {
    cwd: home,
    home,
    env: daemonEnv,
  });
  expect(start.exitCode).toBe(0);
  // A request through the proxy while the SDK is loaded: still served, and its path and query are not sent either.
  const ready = JSON.parse(start.stdout) as ReadyEvent;
  const served = await curl(`${ready.routes[0]?.url}/private-path?token=hunter2`, { ca: ready.ca.path });
  expect(new TextDecoder().decode(served.body)).toBe("ok");
  const status = await runGotunnel(["status", "--json"], { cwd: home, home, env: daemonEnv });
  const parsed = JSON.parse(status.stdout) as { hosts: { warning?: string }; admin?: { port: number } };
  // The failure is real: the daemon says so where the user looks, and counts it whether or not Sentry is on.
  expect(parsed.hosts.warning).toContain("hosts");
  const metrics = await (await fetch(`http://127.0.0.1:${parsed.admin?.port}/metrics`)).text();
  expect(metrics).toMatch(/^gotunnel_errors_total\{component="hosts",category="io"\} [1-9]/m);
  await stopDaemonOf(home);
  const log = readFileSync(join(home, "state", "daemon.log"), "utf8");
  const secrets = [
    `${DOMAIN}.local`,
    DOMAIN,
    "127.0.0.1",
    `http://127.0.0.1:${upstream.port}`,
    home,
    hostsFile,
    MARKER_USER,
    "private-path",
    "hunter2",
  ];
  return { log, secrets };
}

describe("errors to Sentry", () => {
  test("a daemon failure arrives tagged, with release and environment, and nothing identifying", async () => {
    requireBinary();
    const sentry = receiver();
    const { log, secrets } = await runFailingDaemon({ SENTRY_DSN: sentry.dsn, GOTUNNEL_ENVIRONMENT: "staging" });
    expect(log).toContain("errors go to Sentry");
    await waitFor(() => sentry.envelopes.some((text) => text.includes('"daemon shutdown"')), ENVELOPE_WAIT_MS);

    const events = sentry.envelopes
      .flatMap(parseEnvelope)
      .filter((item) => item.header.type === "event")
      .map((item) => item.payload as { tags?: Record<string, string>; release?: string; environment?: string });
    const hosts = events.find((event) => event.tags?.component === "hosts");
    expect(hosts?.tags).toMatchObject({ component: "hosts", category: "io", error_code: "E_IO" });
    expect(hosts?.release).toMatch(/^gotunnel@0\.1\.0\+[0-9a-f]+$/);
    expect(hosts?.environment).toBe("staging");
    expect(JSON.stringify(hosts)).toContain("<path>");
    const transactions = sentry.envelopes
      .flatMap(parseEnvelope)
      .filter((item) => item.header.type === "transaction")
      .map((item) => item.payload as { transaction?: string; contexts?: { trace?: { op?: string } } });
    expect(transactions.map((item) => item.transaction)).toContain("routes apply");
    expect(transactions[0]?.contexts?.trace?.op).toBe("gotunnel.daemon");

    const raw = sentry.envelopes.join("\n");
    for (const secret of secrets) expect(raw).not.toContain(secret);
    for (const word of [userInfo().username, hostname()]) {
      expect(raw).not.toMatch(new RegExp(`(?<![\\w-])${word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![\\w-])`));
    }
    expect(raw).not.toContain('"server_name"');
    expect(raw).not.toContain('"user"');
  });

  for (const [name, env] of [
    ["GOTUNNEL_TELEMETRY=0", { GOTUNNEL_TELEMETRY: "0" }],
    ["DO_NOT_TRACK=1", { DO_NOT_TRACK: "1" }],
  ] as const) {
    test(`${name}: a DSN is set, nothing is sent`, async () => {
      requireBinary();
      const sentry = receiver();
      const { log } = await runFailingDaemon({ SENTRY_DSN: sentry.dsn, ...env });
      expect(log).not.toContain("errors go to Sentry");
      expect(sentry.envelopes).toEqual([]);
    });
  }

  test("no DSN: @sentry/bun is not started and nothing is sent", async () => {
    requireBinary();
    const sentry = receiver();
    const { log } = await runFailingDaemon({});
    expect(log).not.toContain("errors go to Sentry");
    expect(sentry.envelopes).toEqual([]);
  });
});
