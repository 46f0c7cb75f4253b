/**
 * Shared fixtures for the proxy tests: route literals, a throwaway CA in a temp dir, an echo upstream on an
 * ephemeral loopback port, and async process runners for curl / openssl / wrk. Nothing here touches real ports,
 * trust stores or /etc/hosts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import type { ProxyRoute } from "../../src/proxy/router.ts";
import type { TlsEntry } from "../../src/proxy/server.ts";
import type { LocalCA } from "../../src/tls/ca.ts";
import { loadTls } from "../../src/tls/load.ts";
import type { CertificateStore } from "../../src/tls/store.ts";

/** A route to `http://127.0.0.1:<port>`; `name` may be `*.foo.local` for a wildcard. */
export function route(name: string, port: number, overrides: Partial<ProxyRoute> = {}): ProxyRoute {
  return {
    name,
    wildcard: name.startsWith("*."),
    target: { protocol: "http:", hostname: "127.0.0.1", port, origin: `http://127.0.0.1:${port}` },
    https: true,
    headers: {},
    preserveHost: true,
    ...overrides,
  };
}

export interface TestCA {
  dir: string;
  ca: LocalCA;
  /** rootCA.pem, for curl --cacert and openssl -CAfile. */
  caPath: string;
  store: CertificateStore;
  /** Default entry first (DESIGN.md), then one entry per name of each HTTPS route. */
  entriesFor(routes: readonly ProxyRoute[]): Promise<TlsEntry[]>;
  cleanup(): void;
}

/** A fresh CA in its own temp dir, through the same lazy loader the gateway uses. */
export async function createTestCA(): Promise<TestCA> {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-proxy-test-"));
  try {
    const { loadOrCreateCA, CertificateStore, issuerFor } = await loadTls();
    const { ca } = await loadOrCreateCA(join(dir, "ca"));
    const store = new CertificateStore(ca, { issue: issuerFor(ca) });
    return {
      dir,
      ca,
      caPath: ca.certPath,
      store,
      entriesFor: (routes) =>
        store.tlsEntries(routes.filter((r) => r.https).map(({ name, wildcard }) => ({ name, wildcard }))),
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** What the echo upstream saw, returned as its JSON body. */
export interface Echo {
  method: string;
  path: string;
  headers: [string, string][];
  body: string;
}

/**
 * An upstream on 127.0.0.1:<ephemeral> that answers every request with what it received. `GET /slow?ms=N` waits N
 * milliseconds first (for in-flight tests); `/status/N` answers with status N; `/stream?chunks=N&ms=M` streams N
 * lines M ms apart; a WebSocket upgrade gets an echo socket.
 */
export function startEchoUpstream(): Server<undefined> {
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req, server) {
      if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
        return server.upgrade(req, { data: undefined }) ? undefined : new Response("upgrade failed", { status: 400 });
      }
      // The base is for a Host that is not a valid authority: Bun then leaves req.url in origin-form.
      const url = new URL(req.url, "http://upstream.invalid");
      const delayMs = Number(url.searchParams.get("ms") ?? 0);
      if (url.pathname === "/stream") return streamLines(Number(url.searchParams.get("chunks") ?? 1), delayMs);
      if (url.pathname === "/slow" && delayMs > 0) await Bun.sleep(delayMs);
      const status = url.pathname.startsWith("/status/") ? Number(url.pathname.slice(8)) : 200;
      const echo: Echo = {
        method: req.method,
        path: url.pathname + url.search,
        headers: [...req.headers],
        body: await req.text(),
      };
      return Response.json(echo, { status, headers: { "x-upstream": "echo" } });
    },
    websocket: {
      message(ws, message) {
        ws.send(message);
      },
    },
  });
}

/** `line 0\n`, `line 1\n`, … one every `delayMs`: a bounded stand-in for SSE or a long poll. */
function streamLines(chunks: number, delayMs: number): Response {
  const encoder = new TextEncoder();
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent > 0) await Bun.sleep(delayMs);
      controller.enqueue(encoder.encode(`line ${sent}\n`));
      if (++sent >= chunks) controller.close();
    },
  });
  return new Response(body, { headers: { "content-type": "text/plain" } });
}

/**
 * A loopback port that was free a moment ago (bound to port 0, then released): nothing listens there, so a
 * connection is refused, and a test may bind it.
 */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** Throws unless an exclusive (no reusePort) bind of 127.0.0.1:port succeeds, i.e. nobody holds the port. */
export function assertPortFree(port: number): void {
  const probe = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
  probe.stop(true);
}

export interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Async spawn: the servers under test answer on this same event loop, so a blocking spawnSync would deadlock. */
export async function run(argv: string[], options: { stdin?: string } = {}): Promise<Run> {
  const child = Bun.spawn(argv, {
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { exitCode, stdout, stderr };
}

/**
 * curl to `<scheme>://<name>:<port><path>`, resolved to 127.0.0.1 with --resolve (no hosts file involved).
 * `-w` prints the status code on the last line so tests can read it without parsing headers.
 */
export function curl(scheme: "http" | "https", name: string, port: number, path = "/", extra: string[] = []) {
  return run([
    "curl",
    "--silent",
    "--show-error",
    "--max-time",
    "10",
    "--resolve",
    `${name}:${port}:127.0.0.1`,
    "--write-out",
    "\n%{http_code}",
    ...extra,
    `${scheme}://${name}:${port}${path}`,
  ]);
}

/** Splits curl output produced with the `--write-out "\n%{http_code}"` above. */
export function statusAndBody(result: Run): { status: number; body: string } {
  const cut = result.stdout.lastIndexOf("\n");
  return { status: Number(result.stdout.slice(cut + 1)), body: result.stdout.slice(0, Math.max(cut, 0)) };
}

/** The base64 body of the first PEM certificate in `text` (s_client output or a PEM string), whitespace removed. */
export function certBody(text: string): string {
  const match = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(text);
  if (!match?.[1]) throw new Error(`no certificate in:\n${text}`);
  return match[1].replace(/\s+/g, "");
}

/** The certificate an SNI name gets from 127.0.0.1:port, chain-verified against the CA by openssl s_client. */
export async function servedCert(port: number, serverName: string, caPath: string): Promise<string> {
  const result = await run(
    [
      "openssl",
      "s_client",
      "-connect",
      `127.0.0.1:${port}`,
      "-servername",
      serverName,
      "-CAfile",
      caPath,
      "-verify_return_error",
    ],
    { stdin: "" },
  );
  if (result.exitCode !== 0) throw new Error(`openssl s_client failed (${result.exitCode}):\n${result.stderr}`);
  return certBody(result.stdout);
}

/** The certificate entry that Bun.serve got for `serverName`, as a base64 body comparable with servedCert(). */
export function entryCert(entries: readonly TlsEntry[], serverName: string): string {
  const entry = entries.find((candidate) => candidate.serverName === serverName);
  if (!entry) throw new Error(`no TLS entry for ${serverName}`);
  return certBody(entry.cert);
}

/**
 * Sends `head` as raw bytes over plain TCP to 127.0.0.1:port and resolves with everything received until the server
 * closes the socket (or `timeoutMs` passes). For what fetch and curl will not send: malformed Host headers, and
 * checking exactly what the server answers to `Connection: close`.
 */
export function rawHttp(port: number, head: string, timeoutMs = 5_000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    let text = "";
    let timer: Timer | undefined;
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(socket) {
          timer = setTimeout(() => {
            socket.end();
            resolve({ text, closed: false });
          }, timeoutMs);
          socket.write(head);
        },
        data(_socket, chunk) {
          text += chunk.toString("latin1");
        },
        close() {
          clearTimeout(timer);
          resolve({ text, closed: true });
        },
        error(_socket, error) {
          clearTimeout(timer);
          reject(error);
        },
      },
    }).catch(reject);
  });
}
