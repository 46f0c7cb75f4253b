/**
 * `bun-floor`: the smallest Bun.serve reverse proxy (issue 18's floor, measured in the same run as gotunnel). One
 * Bun process, the bench's own bun, serving HTTPS with the same leaf as nginx and Caddy (h2 offered by ALPN, as
 * gotunnel does) and plain HTTP, forwarding every request with `fetch` and returning the upstream's response as it
 * is. No routing, logging, pooling of our own or tracing: what any proxy on Bun.serve costs before it does anything
 * of gotunnel's, in memory, latency and CPU.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { HTTP_HOST, HTTPS_HOST } from "./certs.ts";
import { pinned } from "./cpu.ts";
import { freePort, spawnManaged, stopManaged, waitForPorts } from "./proc.ts";
import type { BenchContext, RunningTarget } from "./target.ts";

const START_TIMEOUT_MS = 20_000;

/**
 * The proxy itself, on its two listeners: script text that expects `httpsPort`, `httpPort`, `upstreamPort`, `certFile`
 * and `keyFile` to be defined before it. floors.ts builds its daemon floor on it.
 */
export const FLOOR_PROXY_SOURCE = `
const upstream = "http://127.0.0.1:" + upstreamPort;
const proxy = async (req) => {
  const url = new URL(req.url);
  const response = await fetch(upstream + url.pathname + url.search, {
    method: req.method, headers: req.headers, body: req.body, decompress: false, redirect: "manual",
  });
  return new Response(response.body, { status: response.status, headers: response.headers });
};
const tls = { cert: await Bun.file(certFile).text(), key: await Bun.file(keyFile).text() };
Bun.serve({ hostname: "127.0.0.1", port: Number(httpsPort), tls, http2: true, fetch: proxy });
Bun.serve({ hostname: "127.0.0.1", port: Number(httpPort), fetch: proxy });
`;

const SCRIPT = `
const [httpsPort, httpPort, upstreamPort, certFile, keyFile] = process.argv.slice(2);
${FLOOR_PROXY_SOURCE}`;

/** The argv that runs the floor on these ports (pinned to the server CPU), its script written first. */
export function bunFloorCommand(context: BenchContext, httpsPort: number, httpPort: number): string[] {
  const script = join(context.dir, "bun-floor.mjs");
  writeFileSync(script, SCRIPT);
  const args = [String(httpsPort), String(httpPort), String(context.upstreamPort)];
  const cmd = [process.execPath, script, ...args, context.certs.leafCert, context.certs.leafKey];
  return pinned(context.cpus, "server", cmd);
}

export async function startBunFloor(context: BenchContext): Promise<RunningTarget> {
  const [httpsPort, httpPort] = [freePort(), freePort()];
  const managed = spawnManaged("bun-floor", bunFloorCommand(context, httpsPort, httpPort), {
    logPath: join(context.dir, "bun-floor.log"),
    uncache: true,
  });
  await waitForPorts(managed, [httpsPort, httpPort], START_TIMEOUT_MS);
  return {
    name: "bun-floor",
    endpoints: { http: { port: httpPort, host: HTTP_HOST }, https: { port: httpsPort, host: HTTPS_HOST } },
    rssRoot: managed.pid,
    version: `the smallest Bun.serve proxy (fetch), Bun ${Bun.version}`,
    stop: () => stopManaged(managed),
  };
}
