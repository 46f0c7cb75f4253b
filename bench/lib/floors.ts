/**
 * Floors for the parts of gotunnel that miss issue 18's targets, measured in the same run: the smallest Bun programs
 * that do only what one gotunnel process does natively, with nothing of gotunnel's own code, each compiled into one
 * executable as gotunnel is (compiledFloor). A gotunnel figure is
 * then read against what Bun costs for the same job on the same machine that minute, not against a number from
 * another day.
 *
 * - daemon: Bun.serve over HTTPS (h2 by ALPN) and HTTP on loopback, a unix-socket control server that streams lines
 *   to one session, an admin HTTP server, one child process on pipes (the certificate issuer's place), `fetch` to the
 *   upstream per request, a log line on stderr. Its idle VmRSS is the floor of the idle daemon (target 40 MiB).
 * - client: what `up` does once its routes serve: a streamed `fetch` over that unix socket, each line written to
 *   stdout, signal handlers, one child spawned at start (the daemon's place). Its idle VmRSS is the floor of the `up`
 *   client (target 40 MiB).
 * - certificates: a fresh process that imports @peculiar/x509, reads the bench's CA and issues the leaves `up`
 *   needs for the bench's config (4 routes with certificates and the dashboard's name), then exits: the floor of the
 *   certificate work in `up` → first 200, one core, cold JIT, as gotunnel's issuer child does it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FLOOR_PROXY_SOURCE } from "./bun-floor.ts";
import { HTTPS_HOST } from "./certs.ts";
import { pinned } from "./cpu.ts";
import { idleCpuMsPerMinute } from "./cpu-time.ts";
import { freePort, type Managed, run, sleep, spawnManaged, stopManaged, waitForLog, waitForPorts } from "./proc.ts";
import type { BenchContext } from "./target.ts";

const START_TIMEOUT_MS = 20_000;
const BUILD_TIMEOUT_MS = 60_000;
/** As the runner's idle figure: after one request through the proxy, this long with no load. */
const IDLE_SETTLE_MS = 2_000;
/** The leaves `up` issues for the bench's config (bench/lib/gotunnel.ts writeConfig) and the dashboard's name. */
export const FLOOR_LEAVES = ["bench.local", "bench-2.local", "bench-3.local", "bench-4.local", "gotunnel.localhost"];

const DAEMON_SCRIPT = `
const [httpsPort, httpPort, upstreamPort, certFile, keyFile, socketPath] = process.argv.slice(2);
${FLOOR_PROXY_SOURCE}
Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => Response.json({ ok: true }) });
const encoder = new TextEncoder();
Bun.serve({
  unix: socketPath,
  idleTimeout: 0,
  fetch: () => new Response(new ReadableStream({
    start(controller) { controller.enqueue(encoder.encode(JSON.stringify({ event: "ready" }) + "\\n")); },
  }), { headers: { "content-type": "application/x-ndjson" } }),
});
const child = Bun.spawn(["cat"], { stdin: "pipe", stdout: "pipe" });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => { child.kill(); process.exit(0); });
console.error("daemon floor ready");
`;

const CLIENT_SCRIPT = `
const [socketPath] = process.argv.slice(2);
await Bun.spawn(["true"], { stdout: "ignore" }).exited;
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
const response = await fetch("http://localhost/v1/sessions", { unix: socketPath, method: "POST", body: "{}" });
const decoder = new TextDecoder();
let carry = "";
for await (const chunk of response.body) {
  const lines = (carry + decoder.decode(chunk, { stream: true })).split("\\n");
  carry = lines.pop() ?? "";
  for (const line of lines) process.stdout.write(line + "\\n");
}
`;

/** The issuing code mirrors src/tls/x509.ts (same extensions, same library calls), without gotunnel's modules. */
function certificatesScript(reflectPath: string, x509Path: string): string {
  return `
import ${JSON.stringify(reflectPath)};
import * as x509 from ${JSON.stringify(x509Path)};
const [caCertFile, caKeyFile, ...names] = process.argv.slice(2);
const alg = { name: "ECDSA", namedCurve: "P-256" };
const sign = { name: "ECDSA", hash: "SHA-256" };
const caCert = new x509.X509Certificate(await Bun.file(caCertFile).text());
const caKeyDer = x509.PemConverter.decode(await Bun.file(caKeyFile).text())[0];
const caKey = await crypto.subtle.importKey("pkcs8", caKeyDer, alg, false, ["sign"]);
const ski = caCert.getExtension(x509.SubjectKeyIdentifierExtension).keyId;
const shared = [
  new x509.BasicConstraintsExtension(false, undefined, true),
  new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
  new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
  new x509.AuthorityKeyIdentifierExtension(ski, false),
];
const issuer = new x509.Name(caCert.subjectName.toArrayBuffer());
const pems = [];
for (const name of names) {
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.create({
    subject: new x509.Name([{ CN: [{ utf8String: name }] }]),
    issuer,
    publicKey: keys.publicKey,
    signingKey: caKey,
    serialNumber: "01" + crypto.randomUUID().replaceAll("-", ""),
    notBefore: new Date(),
    notAfter: new Date(Date.now() + 397 * 86400000),
    signingAlgorithm: sign,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: name }]),
      ...shared,
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  pems.push(cert.toString("pem"));
  await crypto.subtle.exportKey("pkcs8", keys.privateKey);
}
// Sent once at the end, as gotunnel's issuer sends each leaf to the daemon: a test checks them with openssl.
await Bun.write(Bun.stdout, pems.join("\\n") + "\\n");
`;
}

/** The argv that runs the certificates floor for `names` with the CA in these files (pinned to the server CPU). */
export async function certificateFloorCommand(
  dir: string,
  cpus: BenchContext["cpus"],
  ca: { cert: string; key: string },
  names: readonly string[],
): Promise<string[]> {
  // Resolved here, where the repository's node_modules are: the script is written to the bench's temp dir.
  const resolve = (name: string) => Bun.resolveSync(name, import.meta.dir);
  const source = certificatesScript(resolve("reflect-metadata"), resolve("@peculiar/x509"));
  const binary = await compiledFloor(dir, "floor-certificates", source);
  return pinned(cpus, "server", [binary, ca.cert, ca.key, ...names]);
}

export interface FloorMemory {
  /** Idle VmRSS, KiB, one value per sample. */
  daemonKiB: number[];
  clientKiB: number[];
  /** Idle CPU right after, milliseconds per minute, one value per sample. */
  daemonCpu: number[];
  clientCpu: number[];
  skipped?: string;
}

/** Idle CPU is counted this long per sample (the targets' window is longer: they are measured once). */
const IDLE_CPU_MS = 10_000;

function vmRssKiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+)/m);
  if (!line?.[1]) throw new Error(`no VmRSS for ${pid}`);
  return Number(line[1]);
}

/**
 * The floor as gotunnel ships: one executable from `bun build --compile --bytecode --minify` (scripts/build.ts's
 * flags, but one chunk). A compiled program pages in more of the runtime than `bun script.mjs` (3 MiB for the daemon
 * floor, measured), so a script would flatter the floor. Returns the executable's path.
 */
async function compiledFloor(dir: string, name: string, source: string): Promise<string> {
  const script = join(dir, `${name}.mjs`);
  const binary = join(dir, name);
  writeFileSync(script, source);
  const build = [
    process.execPath,
    "build",
    "--compile",
    "--bytecode",
    "--minify",
    "--format",
    "esm",
    script,
    "--outfile",
    binary,
  ];
  const result = await run(build, BUILD_TIMEOUT_MS);
  if (result.code !== 0 || /failed to generate bytecode/i.test(result.stderr + result.stdout)) {
    throw new Error(`bun build --compile of the ${name} floor failed: ${errorLine(result.stderr || result.stdout)}`);
  }
  return binary;
}

/** One request through the floor's HTTPS listener, as the runner's TLS probe does before a target's idle figure. */
async function oneRequest(port: number): Promise<void> {
  const response = await fetch(`https://127.0.0.1:${port}/1k`, {
    headers: { host: HTTPS_HOST },
    tls: { rejectUnauthorized: false, serverName: HTTPS_HOST },
  });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`the daemon floor answered ${response.status}`);
}

interface FloorSample {
  daemon: number;
  client: number;
  daemonCpu: number;
  clientCpu: number;
}

async function memorySample(
  context: BenchContext,
  index: number,
  { daemonBinary, clientBinary }: { daemonBinary: string; clientBinary: string },
): Promise<FloorSample> {
  const socket = join(context.dir, `floor-${index}.sock`);
  const [https, http] = [freePort(), freePort()];
  const { certs, upstreamPort } = context;
  const daemonArgs = [String(https), String(http), String(upstreamPort), certs.leafCert, certs.leafKey, socket];
  const started: Managed[] = [];
  try {
    const daemon = spawnManaged("floor-daemon", pinned(context.cpus, "server", [daemonBinary, ...daemonArgs]), {
      logPath: join(context.dir, "floor-daemon.log"),
      uncache: true,
    });
    started.push(daemon);
    await waitForLog(daemon, "daemon floor ready", START_TIMEOUT_MS);
    await waitForPorts(daemon, [https, http], START_TIMEOUT_MS);
    const client = spawnManaged("floor-client", pinned(context.cpus, "server", [clientBinary, socket]), {
      logPath: join(context.dir, "floor-client.log"),
      uncache: true,
    });
    started.push(client);
    await waitForLog(client, '"ready"', START_TIMEOUT_MS);
    await oneRequest(https);
    await sleep(IDLE_SETTLE_MS);
    const rss = { daemon: vmRssKiB(daemon.pid), client: vmRssKiB(client.pid) };
    const pids = { daemon: daemon.pid, client: client.pid };
    const { roles } = await idleCpuMsPerMinute(daemon.pid, pids, IDLE_CPU_MS);
    return { ...rss, daemonCpu: roles.daemon ?? 0, clientCpu: roles.client ?? 0 };
  } finally {
    for (const managed of started.reverse()) await stopManaged(managed);
  }
}

/** `runs` samples of both memory floors, each pair of programs started afresh. */
export async function measureFloorMemory(context: BenchContext, runs: number): Promise<FloorMemory> {
  const floors: FloorMemory = { daemonKiB: [], clientKiB: [], daemonCpu: [], clientCpu: [] };
  try {
    // Built once: every sample starts the same two executables afresh.
    const binaries = {
      daemonBinary: await compiledFloor(context.dir, "floor-daemon", DAEMON_SCRIPT),
      clientBinary: await compiledFloor(context.dir, "floor-client", CLIENT_SCRIPT),
    };
    for (let i = 0; i < runs; i++) {
      const sample = await memorySample(context, i, binaries);
      floors.daemonKiB.push(sample.daemon);
      floors.clientKiB.push(sample.client);
      floors.daemonCpu.push(sample.daemonCpu);
      floors.clientCpu.push(sample.clientCpu);
    }
  } catch (error) {
    floors.skipped = (error as Error).message;
  }
  return floors;
}

/** Milliseconds from spawning the certificates floor to its exit, `runs` samples after one unmeasured run. */
export async function measureCertificateFloor(context: BenchContext, runs: number): Promise<number[]> {
  const ca = { cert: context.certs.caCert, key: context.certs.caKey };
  const cmd = await certificateFloorCommand(context.dir, context.cpus, ca, FLOOR_LEAVES);
  const samples: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const began = performance.now();
    const result = await run(cmd, START_TIMEOUT_MS);
    const ms = performance.now() - began;
    if (result.code !== 0) throw new Error(`the certificates floor failed: ${errorLine(result.stderr)}`);
    if (i > 0) samples.push(ms); // the first run pages the library's files in: not a user's daily start
  }
  return samples;
}

/** Bun prints the failing source lines before the error: the report wants the error's own line. */
function errorLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  return (lines.find((line) => /^\s*\w*error:/i.test(line)) ?? lines.at(-1) ?? "no output").trim();
}
