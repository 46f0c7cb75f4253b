/**
 * Micro-benchmark of the proxy's upstream client: a minimal Bun.serve HTTP proxy on loopback forwarding to
 * nginx (fixed 1 KiB body), once through `fetch` and once through UpstreamPool, driven by wrk.
 * Baselines: wrk straight at nginx, and nginx's own reverse proxy (keep-alive upstream pool).
 *
 *   bun bench/upstream-micro.ts [--duration-s 5]
 *
 * Needs `wrk` and `nginx` on PATH. Everything listens on 127.0.0.1 ephemeral ports and is stopped at the end.
 * Runs are sequential: on a 2-core machine wrk, the proxy and nginx already share the CPUs.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { UpstreamPool, type UpstreamTarget } from "../src/proxy/upstream/index.ts";

const BODY_BYTES = 1024;
const STARTUP_TIMEOUT_MS = 10_000;
const WRK_GRACE_MS = 30_000;
// RFC 9110 §7.6.1 hop-by-hop fields, plus the framing fields the client re-frames itself.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
]);

type ProxyMode = "fetch" | "pool";

/** The origin-form target of an absolute request URL, without a URL parse ("http://h:1/p?q" → "/p?q"). */
function originForm(url: string): string {
  const slash = url.indexOf("/", url.indexOf("//") + 2);
  return slash === -1 ? "/" : url.slice(slash);
}

function forwardedHeaders(req: Request): [string, string][] {
  const headers: [string, string][] = [];
  req.headers.forEach((value, name) => {
    if (!HOP_BY_HOP.has(name)) headers.push([name, value]);
  });
  return headers;
}

/** Bun.serve closes after a `Connection: close` request without saying so; wrk counts that as a read error. */
function wantsClose(req: Request): boolean {
  return req.headers.get("connection")?.toLowerCase() === "close";
}

async function viaPool(pool: UpstreamPool, target: UpstreamTarget, req: Request): Promise<Response> {
  const length = req.headers.get("content-length");
  const upstream = await pool.request(target, {
    method: req.method,
    path: originForm(req.url),
    headers: forwardedHeaders(req),
    body: req.body,
    contentLength: length === null ? undefined : Number(length),
    signal: req.signal,
  });
  // The pool's Response is ours to edit: strip hop-by-hop fields in place instead of copying it.
  upstream.headers.delete("connection");
  upstream.headers.delete("keep-alive");
  if (wantsClose(req)) upstream.headers.set("connection", "close");
  return upstream;
}

async function viaFetch(upstreamPort: number, req: Request): Promise<Response> {
  const upstream = await fetch(`http://127.0.0.1:${upstreamPort}${originForm(req.url)}`, {
    method: req.method,
    headers: forwardedHeaders(req),
    body: req.body,
    decompress: false,
    redirect: "manual",
    signal: req.signal,
  });
  // fetch's Response headers are immutable: copy them without the hop-by-hop fields.
  const headers = new Headers();
  upstream.headers.forEach((value, name) => {
    if (!HOP_BY_HOP.has(name) || name === "content-length") headers.append(name, value);
  });
  if (wantsClose(req)) headers.set("connection", "close");
  return new Response(upstream.body, { status: upstream.status, headers });
}

/** Child mode: one proxy process, so each run starts from a cold, isolated heap. */
function serveProxy(mode: ProxyMode, upstreamPort: number): void {
  const pool = new UpstreamPool();
  const target = { hostname: "127.0.0.1", port: upstreamPort };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    fetch: (req) => (mode === "pool" ? viaPool(pool, target, req) : viaFetch(upstreamPort, req)),
  });
  console.log(`LISTENING ${server.port}`);
}

/** One nginx instance per role, so the reference proxy pays for its upstream hop across processes as we do. */
function nginxConfig(dir: string, role: string, port: number, upstreamPort: number | null): string {
  const site =
    upstreamPort === null
      ? `location / { default_type application/octet-stream; return 200 "${"x".repeat(BODY_BYTES)}"; }`
      : 'location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; }';
  const pool = upstreamPort === null ? "" : `upstream origin { server 127.0.0.1:${upstreamPort}; keepalive 256; }`;
  return `worker_processes 1;
daemon off;
pid ${join(dir, `${role}.pid`)};
error_log ${join(dir, `${role}-error.log`)} warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/${role}-body;
  proxy_temp_path ${dir}/${role}-proxy;
  fastcgi_temp_path ${dir}/${role}-fastcgi;
  uwsgi_temp_path ${dir}/${role}-uwsgi;
  scgi_temp_path ${dir}/${role}-scgi;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  ${pool}
  server {
    listen 127.0.0.1:${port} backlog=4096;
    ${site}
  }
}
`;
}

function startNginx(dir: string, role: string, port: number, upstreamPort: number | null): Subprocess {
  const conf = join(dir, `${role}.conf`);
  writeFileSync(conf, nginxConfig(dir, role, port, upstreamPort));
  return Bun.spawn(["nginx", "-p", dir, "-e", join(dir, `${role}-error.log`), "-c", conf], {
    stdout: "inherit",
    stderr: "inherit",
  });
}

async function freePort(): Promise<number> {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const ok = await fetch(`http://127.0.0.1:${port}/`).then(
      (r) => r.arrayBuffer().then(() => true),
      () => false,
    );
    if (ok) return;
    await Bun.sleep(50);
  }
  throw new Error(`nothing answered on 127.0.0.1:${port} within ${STARTUP_TIMEOUT_MS} ms`);
}

async function startProxy(mode: ProxyMode, upstreamPort: number): Promise<{ proc: Subprocess; port: number }> {
  const proc = Bun.spawn([process.execPath, import.meta.path, "--serve", mode, String(upstreamPort)], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = proc.stdout.getReader();
  let text = "";
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (!text.includes("\n") && Date.now() < deadline) {
    const { done, value } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const port = Number(/LISTENING (\d+)/.exec(text)?.[1]);
  if (!port) {
    proc.kill();
    throw new Error(`proxy (${mode}) did not start: ${text}`);
  }
  return { proc, port };
}

/** utime + stime of a process and its direct children (nginx's worker), in clock ticks (/proc/<pid>/stat). */
function cpuTicks(pid: number): number {
  const own = (id: number): number => {
    const stat = readFileSync(`/proc/${id}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  };
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(" ").filter(Boolean);
  return own(pid) + children.reduce((sum, child) => sum + own(Number(child)), 0);
}

const CLOCK_TICKS_PER_S = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

interface WrkSummary {
  requests: number;
  rps: number;
  errors: number;
  detail: string;
}

function parseWrk(stdout: string): WrkSummary {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? Number.NaN);
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const status = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const counts = socket ? socket.slice(1).map(Number) : [0, 0, 0, 0];
  const errors = counts.reduce((a, b) => a + b, 0) + status;
  const detail =
    errors === 0
      ? ""
      : `connect ${counts[0]} read ${counts[1]} write ${counts[2]} timeout ${counts[3]} status ${status}`;
  return { requests, rps, errors, detail };
}

async function runWrk(port: number, connections: number, durationS: number, close: boolean): Promise<WrkSummary> {
  const args = ["wrk", "-t1", `-c${connections}`, `-d${durationS}s`, "--timeout", "10s"];
  if (close) args.push("-H", "Connection: close");
  args.push(`http://127.0.0.1:${port}/`);
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const killer = setTimeout(() => proc.kill(), durationS * 1000 + WRK_GRACE_MS);
  const stdout = await new Response(proc.stdout).text();
  await proc.exited;
  clearTimeout(killer);
  return parseWrk(stdout);
}

const SCENARIOS = [
  { name: "c=50 keep-alive", connections: 50, close: false },
  { name: "c=500 keep-alive", connections: 500, close: false },
  { name: "c=50 Connection: close", connections: 50, close: true },
] as const;

async function stopProc(proc: Subprocess): Promise<void> {
  proc.kill("SIGTERM");
  await proc.exited;
}

/** A target under test: where wrk points, the process whose CPU we charge (null: not measured), how to stop it. */
interface Running {
  port: number;
  pid: number | null;
  stop(): Promise<void>;
}

interface Target {
  name: string;
  start(): Promise<Running>;
}

function targets(dir: string, upstream: Subprocess, upstreamPort: number, nginxProxyPort: number): Target[] {
  const direct: Target = {
    name: "direct nginx",
    start: async () => ({ port: upstreamPort, pid: upstream.pid, stop: async () => {} }),
  };
  const nginxProxy: Target = {
    name: "nginx proxy",
    start: async () => {
      const proc = startNginx(dir, "proxy", nginxProxyPort, upstreamPort);
      await waitForPort(nginxProxyPort);
      return { port: nginxProxyPort, pid: proc.pid, stop: () => stopProc(proc) };
    },
  };
  const bun = (["fetch", "pool"] as const).map(
    (mode): Target => ({
      name: `Bun.serve + ${mode}`,
      start: async () => {
        const { proc, port } = await startProxy(mode, upstreamPort);
        return { port, pid: proc.pid, stop: () => stopProc(proc) };
      },
    }),
  );
  return [direct, nginxProxy, ...bun];
}

async function measure(target: Target, scenario: (typeof SCENARIOS)[number], durationS: number): Promise<string> {
  const running = await target.start();
  try {
    const before = running.pid === null ? 0 : cpuTicks(running.pid);
    const result = await runWrk(running.port, scenario.connections, durationS, scenario.close);
    const ticks = running.pid === null ? 0 : cpuTicks(running.pid) - before;
    const cpuUs = result.requests > 0 ? (ticks / CLOCK_TICKS_PER_S / result.requests) * 1e6 : 0;
    const rps = result.rps.toFixed(0).padStart(7);
    return `${target.name.padEnd(18)} ${scenario.name.padEnd(23)} ${rps} req/s  ${cpuUs.toFixed(1).padStart(5)} µs CPU/req  errors ${result.errors} ${result.detail}`;
  } finally {
    await running.stop();
  }
}

async function main(): Promise<void> {
  const durationIndex = process.argv.indexOf("--duration-s");
  const durationS = durationIndex > 0 ? Number(process.argv[durationIndex + 1]) : 5;
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-upstream-bench-"));
  const upstreamPort = await freePort();
  const nginxProxyPort = await freePort();
  const upstream = startNginx(dir, "upstream", upstreamPort, null);
  try {
    await waitForPort(upstreamPort);
    console.log(`wrk -t1 -d${durationS}s, 1 KiB body; CPU is the server/proxy process (nginx: master + worker)`);
    for (const target of targets(dir, upstream, upstreamPort, nginxProxyPort)) {
      for (const scenario of SCENARIOS) console.log(await measure(target, scenario, durationS));
    }
  } finally {
    await stopProc(upstream);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "--serve") {
  serveProxy(process.argv[3] === "fetch" ? "fetch" : "pool", Number(process.argv[4]));
} else {
  await main();
}
