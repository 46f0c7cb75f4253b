/**
 * The daemon announces LAN-shared `.local` routes by mDNS: the compiled binary runs in network namespace "a" (temp
 * home and hosts file, `proxy.host` 0.0.0.0 through GOTUNNEL_PROXY_HOST), a second namespace "b" is a phone on the
 * same Wi-Fi. Both namespaces and the veth between them are created and deleted by tests/helpers/netns.ts, so no
 * multicast reaches this machine's interfaces. Skips with the reason when not root or a tool is missing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { BINARY, binaryEnv, E2EScope, requireBinary } from "../helpers/e2e.ts";
import { collect, createNetnsPair, type NetnsPair, netnsSkipReason, run } from "../helpers/netns.ts";

const ROOT = resolve(import.meta.dir, "../..");
/** Ports inside namespace a, which has nothing else listening: they never touch this machine's ports. */
const HTTPS_PORT = 8443;
const HTTP_PORT = 8080;
const UPSTREAM_PORT = 3999;

/** Runs in namespace b: prints every mDNS response record it hears on the link as a JSON line. */
const LISTENER_SCRIPT = `
const { decodeMessage } = await import(process.env.GT_ROOT + "/src/mdns/decode.ts");
const socket = (await import("node:dgram")).createSocket({ type: "udp4", reuseAddr: true });
socket.on("message", (packet) => {
  const message = decodeMessage(new Uint8Array(packet));
  if ((message.flags & 0x8000) === 0) return;
  for (const record of message.answers) console.log(JSON.stringify({ name: record.name, type: record.type, ttl: record.ttl }));
});
socket.bind(5353, () => { socket.addMembership("224.0.0.251", process.env.GT_IFACE_ADDR); console.log("listening"); });
`;

const skip = netnsSkipReason();
const scope = new E2EScope();

describe.skipIf(skip !== undefined)(`the daemon on a LAN${skip ? ` (skipped: ${skip})` : ""}`, () => {
  let pair: NetnsPair;
  let home: string;
  let project: string;
  let upstream: Subprocess;
  let listener: Subprocess<"ignore", "pipe", "pipe">;
  let heard: ReturnType<typeof collect>;

  const inA = (args: string[]) =>
    run(pair.exec(pair.a.ns, [BINARY, ...args]), {
      env: binaryEnv(home, {
        GOTUNNEL_PROXY_HOST: "0.0.0.0",
        GOTUNNEL_PROXY_HTTPS_PORT: String(HTTPS_PORT),
        GOTUNNEL_PROXY_HTTP_PORT: String(HTTP_PORT),
      }),
      timeoutMs: 30_000,
    }).then((result) => ({ ...result, cwd: project }));
  const dig = (name: string) =>
    run(pair.exec(pair.b.ns, ["dig", "+tries=1", "+time=2", `@${pair.a.v4}`, "-p", "5353", name, "A", "+short"]));
  const curlFromB = (name: string) =>
    run(
      pair.exec(pair.b.ns, [
        "curl",
        "-sS",
        "--max-time",
        "5",
        "--cacert",
        join(home, "ca", "rootCA.pem"),
        "--resolve",
        `${name}:${HTTPS_PORT}:${pair.a.v4}`,
        "-w",
        " %{http_code}",
        `https://${name}:${HTTPS_PORT}/`,
      ]),
    );

  beforeAll(async () => {
    requireBinary();
    pair = createNetnsPair();
    scope.defer(() => pair.cleanup());
    home = scope.dir("home");
    project = scope.project({
      "gotunnel.config.json": JSON.stringify({
        routes: { "myapp.local": UPSTREAM_PORT, "priv.local": { target: UPSTREAM_PORT, lan: false } },
      }),
    });
    const serve = `Bun.serve({ hostname: "127.0.0.1", port: ${UPSTREAM_PORT}, fetch: () => new Response("hello from upstream") }); console.log("up");`;
    upstream = Bun.spawn(pair.exec(pair.a.ns, [process.execPath, "-e", serve]), { stdout: "pipe", stderr: "inherit" });
    scope.defer(() => upstream.kill("SIGKILL"));
    await collect(upstream.stdout as ReadableStream<Uint8Array>).until("up", "upstream");
    const script = join(scope.dir("listener"), "listener.ts");
    writeFileSync(script, LISTENER_SCRIPT);
    listener = Bun.spawn(pair.exec(pair.b.ns, [process.execPath, script]), {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, GT_ROOT: ROOT, GT_IFACE_ADDR: pair.b.v4 },
    });
    scope.defer(() => listener.kill("SIGKILL"));
    heard = collect(listener.stdout);
    await heard.until("listening", "mDNS listener");
    const up = await run(
      pair.exec(pair.a.ns, ["sh", "-c", `cd "$0" && exec "$@"`, project, BINARY, "up", "--detach"]),
      {
        env: binaryEnv(home, {
          GOTUNNEL_PROXY_HOST: "0.0.0.0",
          GOTUNNEL_PROXY_HTTPS_PORT: String(HTTPS_PORT),
          GOTUNNEL_PROXY_HTTP_PORT: String(HTTP_PORT),
        }),
        timeoutMs: 30_000,
      },
    );
    expect(up.stderr).not.toContain("error");
    expect(up.code).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await inA(["daemon", "stop"]).catch((error: unknown) => console.error("daemon stop:", error));
    await scope.dispose();
  });

  test("dig from b gets a's address for the shared route, and nothing for the lan: false one", async () => {
    // `up` returns while the name is still being probed (RFC 6762 §8.1, under a second): wait for the announcement.
    await heard.until('{"name":"myapp.local","type":"A"', "announcement of myapp.local");
    expect((await dig("myapp.local")).stdout.trim()).toBe(pair.a.v4);
    expect((await dig("priv.local")).stdout).toContain("timed out");
  });

  test("curl from b reaches the upstream through the daemon; the lan: false route answers 403", async () => {
    expect((await curlFromB("myapp.local")).stdout).toBe("hello from upstream 200");
    const refused = await curlFromB("priv.local");
    expect(refused.stdout).toContain("priv.local is not shared on the LAN (lan: false)");
    expect(refused.stdout.endsWith(" 403")).toBe(true);
  });

  test("`gotunnel stop myapp.local` sends a goodbye (TTL 0) and the name stops resolving", async () => {
    const from = heard.text().length;
    const stopped = await inA(["stop", "myapp.local"]);
    expect(stopped.code).toBe(0);
    await heard.until('{"name":"myapp.local","type":"A","ttl":0}', "goodbye for myapp.local", from);
    expect((await dig("myapp.local")).stdout).toContain("timed out");
  }, 20_000);

  test("`gotunnel daemon stop` says goodbye for every name still announced", async () => {
    let from = heard.text().length;
    expect((await inA(["start", "-d", "other", "-p", String(UPSTREAM_PORT)])).code).toBe(0);
    await heard.until('{"name":"other.local","type":"A"', "announcement of other.local", from);
    from = heard.text().length;
    expect((await inA(["daemon", "stop"])).code).toBe(0);
    await heard.until('{"name":"other.local","type":"A","ttl":0}', "goodbye for other.local", from);
  }, 20_000);
});
