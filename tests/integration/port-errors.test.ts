/**
 * Bind failures become GotunnelErrors that say what happened and what to do (DESIGN.md: Bun.serve throws with `code`
 * EADDRINUSE, EACCES or EADDRNOTAVAIL). Real sockets on loopback, a real second process holding a port, a real
 * unprivileged user for EACCES, and TEST-NET-1 (192.0.2.1, RFC 5737) for an address this machine does not have:
 * binding fails locally, no packet is sent.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { GotunnelError } from "../../src/core/errors.ts";
import { findPortHolder } from "../../src/platform/port-holder.ts";
import type { Upstream } from "../../src/proxy/forward.ts";
import { ProxyServer, type ProxyServerOptions, type TlsEntry } from "../../src/proxy/server.ts";
import { cleanupNobodyFiles, compileForNobody } from "../helpers/nobody.ts";
import { assertPortFree, createTestCA, curl, freePort, route, statusAndBody, type TestCA } from "../helpers/proxy.ts";
import { requirement } from "../helpers/tools.ts";

const TEST_NET_1 = "192.0.2.1";
const unused: Upstream = () => Promise.reject(new Error("no upstream in these tests"));

let testCA: TestCA;
let tls: TlsEntry[];
let dir: string;

beforeAll(async () => {
  testCA = await createTestCA();
  tls = await testCA.entriesFor([route("a.local", 1)]);
  dir = mkdtempSync(join(tmpdir(), "gotunnel-port-errors-"));
});

afterAll(() => {
  cleanupNobodyFiles();
  testCA?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function options(overrides: Partial<ProxyServerOptions>): ProxyServerOptions {
  return { host: "127.0.0.1", httpsPort: 0, httpPort: null, routes: [], tls, upstream: unused, ...overrides };
}

/** The GotunnelError that listen() rejects with; fails the test when it resolves or throws something else. */
async function listenError(overrides: Partial<ProxyServerOptions>): Promise<GotunnelError> {
  let proxy: ProxyServer | undefined;
  try {
    proxy = await ProxyServer.listen(options(overrides));
  } catch (error) {
    expect(error).toBeInstanceOf(GotunnelError);
    return error as GotunnelError;
  }
  await proxy.stop(true);
  throw new Error(`listen(${JSON.stringify(overrides)}) succeeded but should have failed`);
}

/** A Bun child process that listens on 127.0.0.1:<ephemeral> and prints the port. */
async function spawnHolder(): Promise<{ child: Subprocess<"ignore", "pipe", "inherit">; port: number }> {
  const script = join(dir, "hold-port.ts");
  writeFileSync(
    script,
    `const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
console.log(s.port);
setInterval(() => {}, 1 << 30);
`,
  );
  const child = Bun.spawn([process.execPath, script], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  const port = Number(new TextDecoder().decode(value).trim());
  if (!Number.isInteger(port) || port <= 0) {
    child.kill();
    throw new Error("the port holder did not report its port");
  }
  return { child, port };
}

describe("EADDRINUSE", () => {
  let holder: Awaited<ReturnType<typeof spawnHolder>>;

  beforeAll(async () => {
    holder = await spawnHolder();
  });

  afterAll(async () => {
    holder?.child.kill();
    await holder?.child.exited;
  });

  test("another process on the HTTPS port: E_PORT_IN_USE naming its pid and command, and the flag to use", async () => {
    const error = await listenError({ httpsPort: holder.port });
    expect(error.code).toBe("E_PORT_IN_USE");
    expect(error.exitCode).toBe(4);
    const command = readFileSync(`/proc/${holder.child.pid}/comm`, "utf8").trim();
    expect(error.message).toBe(
      `port ${holder.port} (HTTPS) on 127.0.0.1 is in use by pid ${holder.child.pid} (${command})`,
    );
    // 8443 unless that is taken on this machine: the hint names a port that is free when it is made.
    const suggested = Number(/--proxy-https-port (\d+)/.exec(error.hint ?? "")?.[1]);
    expect(error.hint).toBe(`stop ${command}, or run with \`--proxy-https-port ${suggested}\` (free now)`);
    expect(suggested).toBeGreaterThanOrEqual(8443);
    expect(error.details).toMatchObject({ port: holder.port, proto: "https", holder: { pid: holder.child.pid } });
  });

  test("another process on the HTTP port: names HTTP and --proxy-http-port, and leaves no HTTPS listener behind", async () => {
    const httpsPort = freePort();
    const error = await listenError({ httpsPort, httpPort: holder.port });
    expect(error.code).toBe("E_PORT_IN_USE");
    expect(error.message).toStartWith(`port ${holder.port} (HTTP) on 127.0.0.1 is in use by pid ${holder.child.pid}`);
    expect(error.hint).toMatch(/--proxy-http-port \d+/);
    assertPortFree(httpsPort);
  });

  test("findPortHolder finds the child through /proc", () => {
    expect(findPortHolder(holder.port)?.pid).toBe(holder.child.pid);
  });
});

describe("a second gotunnel on the same port", () => {
  test("is refused by the exclusive probe although both bind with reusePort", async () => {
    const first = await ProxyServer.listen(options({ routes: [route("a.local", 1)] }));
    try {
      const port = first.ports.https;
      // Why the probe exists: a plain reusePort bind next to ours succeeds silently and would share the traffic.
      const silent = Bun.serve({ hostname: "127.0.0.1", port, reusePort: true, fetch: () => new Response("") });
      await silent.stop(true);
      const error = await listenError({ httpsPort: port });
      expect(error.code).toBe("E_PORT_IN_USE");
      expect(error.message).toContain(`is in use by pid ${process.pid}`);
      // The refused attempt left the first proxy serving.
      const { status } = statusAndBody(await curl("https", "nope.local", port, "/", ["--insecure"]));
      expect(status).toBe(404);
    } finally {
      await first.stop(true);
    }
  });
});

describe("one port for both listeners", () => {
  test("is refused: with reusePort both binds would succeed and split TLS from plain HTTP", async () => {
    const port = freePort();
    const error = await listenError({ httpsPort: port, httpPort: port });
    expect(error.code).toBe("E_PORT_IN_USE");
    expect(error.message).toBe(`the HTTP and HTTPS listeners cannot share port ${port}`);
    expect(error.hint).toContain("--proxy-http-port 8080 --proxy-https-port 8443");
    assertPortFree(port);
  });

  test("port 0 for both is fine: each gets its own ephemeral port", async () => {
    const proxy = await ProxyServer.listen(options({ httpsPort: 0, httpPort: 0 }));
    try {
      expect(proxy.ports.https).not.toBe(proxy.ports.http);
    } finally {
      await proxy.stop(true);
    }
  });
});

describe("EACCES", () => {
  const runuser = Bun.which("runuser");
  const unprivilegedStart = Number(readFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start", "utf8").trim());
  const skipReason = !runuser
    ? "needs runuser: apt-get install util-linux"
    : process.getuid?.() !== 0
      ? "needs root to switch to the nobody user"
      : unprivilegedStart <= 1023
        ? `net.ipv4.ip_unprivileged_port_start is ${unprivilegedStart}: port 1023 is not privileged here`
        : undefined;
  const asNobody = requirement(skipReason);

  test.skipIf(asNobody.skip)(
    asNobody.title("port 1023 as `nobody`: E_PORT_PRIVILEGED with the setcap hint"),
    async () => {
      const work = join(dir, "nobody");
      mkdirSync(work, { mode: 0o755 });
      chmodSync(dir, 0o755);
      const script = join(work, "bind-1023.ts");
      const server = join(import.meta.dir, "../../src/proxy/server.ts");
      writeFileSync(
        script,
        `import { ProxyServer } from ${JSON.stringify(server)};
try {
  await ProxyServer.listen({ host: "127.0.0.1", httpsPort: 1023, httpPort: null, routes: [], tls: [],
    upstream: () => Promise.reject(new Error("unused")) });
  console.log(JSON.stringify({ bound: true }));
} catch (e) {
  console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message, hint: e.hint, exitCode: e.exitCode }));
}
process.exit(0);
`,
      );
      const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: work, BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" };
      const child = Bun.spawn([runuser!, "-u", "nobody", "--", compileForNobody(script)], {
        env,
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stdout, stderr, exitCode] = await Promise.all([
        new Response(child.stdout).text(),
        new Response(child.stderr).text(),
        child.exited,
      ]);
      expect({ exitCode, stderr }).toEqual({ exitCode: 0, stderr: "" });
      const error = JSON.parse(stdout) as Record<string, unknown>;
      expect(error).toMatchObject({ name: "GotunnelError", code: "E_PORT_PRIVILEGED", exitCode: 4 });
      expect(error.message).toBe("port 1023 (HTTPS) needs root privileges to bind");
      expect(error.hint).toContain("setcap cap_net_bind_service=+ep");
      expect(error.hint).toMatch(/--proxy-https-port \d+/);
    },
  );
});

describe("EADDRNOTAVAIL", () => {
  test(`${TEST_NET_1} with a fixed port (refused by the probe): E_ADDR_NOT_AVAILABLE`, async () => {
    const error = await listenError({ host: TEST_NET_1, httpsPort: 40443 });
    expect(error.code).toBe("E_ADDR_NOT_AVAILABLE");
    expect(error.exitCode).toBe(4);
    expect(error.message).toBe(`cannot listen on ${TEST_NET_1}:40443: no such local address`);
    expect(error.hint).toContain("proxy.host");
  });

  test(`${TEST_NET_1} with port 0 (no probe, Bun.serve itself fails): E_ADDR_NOT_AVAILABLE`, async () => {
    const error = await listenError({ host: TEST_NET_1, httpsPort: 0 });
    expect(error.code).toBe("E_ADDR_NOT_AVAILABLE");
    expect(error.message).toBe(`cannot listen on ${TEST_NET_1}:0: no such local address`);
  });
});

describe("findPortHolder on a fake /proc", () => {
  /** One LISTEN socket on port 0x1F90 (8080) owned by pid 4242 ("devserver"), plus noise that must be skipped. */
  function fakeProc(): string {
    const root = join(dir, "proc");
    mkdirSync(join(root, "net"), { recursive: true });
    const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    writeFileSync(
      join(root, "net", "tcp"),
      `${header}   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777001 1\n` +
        `   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 777002 1\n`,
    );
    // No net/tcp6: a kernel without IPv6 must still work.
    for (const [pid, inode, comm] of [
      ["4242", "777001", "devserver"],
      ["5151", "777002", "client"],
    ] as const) {
      mkdirSync(join(root, pid, "fd"), { recursive: true });
      symlinkSync(`socket:[${inode}]`, join(root, pid, "fd", "3"));
      symlinkSync("/dev/null", join(root, pid, "fd", "0"));
      writeFileSync(join(root, pid, "comm"), `${comm}\n`);
    }
    mkdirSync(join(root, "self"));
    return root;
  }

  test.skipIf(process.platform !== "linux")("names the pid and command of the LISTEN socket only", () => {
    const root = fakeProc();
    expect(findPortHolder(8080, root)).toEqual({ pid: 4242, command: "devserver" });
    expect(findPortHolder(8081, root)).toBeUndefined();
  });
});
