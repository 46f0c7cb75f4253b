/**
 * LAN sharing as `gotunnel up` does it by default: the compiled binary runs in network namespace "a" (temp home and
 * hosts file, no proxy.host, GOTUNNEL_LAN unset), and a second namespace "b" is a phone on the same Wi-Fi with its
 * own avahi-daemon and nss-mdns. The daemon listens on loopback while it serves only `.localhost` or `lan: false`
 * routes, moves to 0.0.0.0 and announces the name when a `.local` route arrives, and goes back when it leaves. Both
 * namespaces and the veth between them are created and deleted by tests/helpers/netns.ts, so no multicast reaches
 * this machine's interfaces. Skips with the reason when not root or a tool is missing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { BINARY, binaryEnv, E2EScope, requireBinary } from "../helpers/e2e.ts";
import {
  type AvahiHost,
  collect,
  createNetnsPair,
  eventually,
  type NetnsPair,
  netnsSkipReason,
  run,
  startAvahi,
} from "../helpers/netns.ts";

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

/**
 * Runs in namespace a: requests on loopback, over keep-alive, to both listeners until stdin closes, then prints how
 * many got an answer and the errors. Any answer counts (the HTTP one is a redirect): the point is none is dropped.
 */
const LOAD_SCRIPT = `
const urls = ["https://127.0.0.1:${HTTPS_PORT}/", "http://127.0.0.1:${HTTP_PORT}/"];
let running = true, answered = 0;
const errors = [];
const loop = async (url) => {
  while (running) {
    try {
      const res = await fetch(url, { headers: { host: "web.localhost" }, redirect: "manual", tls: { rejectUnauthorized: false } });
      await res.arrayBuffer();
      answered++;
    } catch (error) { errors.push(url + ": " + error); }
  }
};
const loops = urls.flatMap((url) => [loop(url), loop(url)]);
console.log("started");
for await (const _ of Bun.stdin.stream()) {}
running = false;
await Promise.all(loops);
console.log(JSON.stringify({ answered, errors }));
`;

const skip = netnsSkipReason();
const scope = new E2EScope();

describe.skipIf(skip !== undefined)(`the daemon on a LAN by default${skip ? ` (skipped: ${skip})` : ""}`, () => {
  let pair: NetnsPair;
  let phone: AvahiHost;
  let home: string;
  let project: string;
  let listener: Subprocess<"ignore", "pipe", "pipe">;
  let heard: ReturnType<typeof collect>;
  let address: string;

  const env = () =>
    binaryEnv(home, {
      // Empty is unset: the default policy, not the GOTUNNEL_LAN=0 that binaryEnv sets for tests on this machine.
      GOTUNNEL_LAN: "",
      GOTUNNEL_PROXY_HTTPS_PORT: String(HTTPS_PORT),
      GOTUNNEL_PROXY_HTTP_PORT: String(HTTP_PORT),
    });
  const inA = (args: string[], cwd = home) =>
    run(pair.exec(pair.a.ns, ["sh", "-c", `cd "$0" && exec "$@"`, cwd, BINARY, ...args]), {
      env: env(),
      timeoutMs: 30_000,
    });
  /**
   * The addresses the daemon's HTTPS and HTTP listeners are bound to, from `ss` inside namespace a. Loopback is
   * both 127.0.0.1 and [::1] (the hosts block maps names to both, daemon/lan.ts listenHosts).
   */
  const listening = async () => {
    const ss = await run(pair.exec(pair.a.ns, ["ss", "-ltnH"]));
    const ports = new Set([`:${HTTPS_PORT}`, `:${HTTP_PORT}`]);
    const local = ss.stdout.split("\n").map((line) => line.trim().split(/\s+/)[3] ?? "");
    return [...new Set(local.filter((addr) => ports.has(addr.slice(addr.lastIndexOf(":")))))].sort();
  };
  const listensOn = async (...hosts: string[]) => {
    const wanted = hosts.flatMap((host) => [`${host}:${HTTP_PORT}`, `${host}:${HTTPS_PORT}`]).sort();
    const matches = async () => ((await listening()).join() === wanted.join() ? true : undefined);
    // On timeout the expect below shows what ss saw instead.
    await eventually(matches, `listeners on ${hosts.join(", ")}`).catch(() => undefined);
    expect(await listening()).toEqual(wanted);
  };
  const dig = (name: string, at = address) =>
    run(pair.exec(pair.b.ns, ["dig", "+tries=1", "+time=2", `@${at}`, "-p", "5353", name, "A", "+short"]));
  const curlFromB = (url: string, extra: string[] = []) =>
    phone.run([
      "curl",
      "-sS",
      "--max-time",
      "5",
      "--cacert",
      join(home, "ca", "rootCA.pem"),
      ...extra,
      "-w",
      " %{http_code}",
      url,
    ]);
  /** Starts LOAD_SCRIPT in namespace a; the returned function ends it and returns its tally. */
  const loadOnLoopback = async (dir: string) => {
    const script = join(dir, "load.ts");
    writeFileSync(script, LOAD_SCRIPT);
    const proc = Bun.spawn(pair.exec(pair.a.ns, [process.execPath, script]), {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
    });
    scope.defer(() => proc.kill("SIGKILL"));
    const out = collect(proc.stdout);
    await out.until("started", "loopback load");
    return async () => {
      proc.stdin.end();
      await proc.exited;
      return JSON.parse(out.text().split("\n")[1] ?? "{}") as { answered: number; errors: string[] };
    };
  };

  beforeAll(async () => {
    requireBinary();
    pair = createNetnsPair();
    scope.defer(() => pair.cleanup());
    address = pair.a.v4;
    home = scope.dir("home");
    project = scope.project({
      "gotunnel.config.json": JSON.stringify({
        routes: { "myapp.local": UPSTREAM_PORT, "priv.local": { target: UPSTREAM_PORT, lan: false } },
      }),
    });
    phone = await startAvahi(pair, pair.b, scope.dir("avahi"), "gtphone");
    scope.defer(() => phone.stop());
    const serve = `Bun.serve({ hostname: "127.0.0.1", port: ${UPSTREAM_PORT}, fetch: () => new Response("hello from upstream") }); console.log("up");`;
    const upstream = Bun.spawn(pair.exec(pair.a.ns, [process.execPath, "-e", serve]), { stdout: "pipe" });
    scope.defer(() => upstream.kill("SIGKILL"));
    await collect(upstream.stdout).until("up", "upstream");
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
  }, 30_000);

  afterAll(async () => {
    await inA(["daemon", "stop"]).catch((error: unknown) => console.error("daemon stop:", error));
    await scope.dispose();
  });

  test("with only a .localhost route the daemon listens on loopback only: b's connection is refused", async () => {
    const started = await inA(["start", "-d", "web.localhost", "-p", String(UPSTREAM_PORT)]);
    expect(started.stderr).not.toContain("error");
    expect(started.code).toBe(0);
    await listensOn("127.0.0.1", "[::1]");
    const refused = await curlFromB(`https://${pair.a.v4}:${HTTPS_PORT}/`);
    expect(refused.stderr).toContain("Failed to connect");
  });

  test("a .local route adds listeners on 0.0.0.0 without dropping a loopback request", async () => {
    const stopLoad = await loadOnLoopback(scope.dir("load"));
    const up = await inA(["up", "--detach"], project);
    expect(up.stderr).not.toContain("error");
    expect(up.code).toBe(0);
    await listensOn("0.0.0.0", "127.0.0.1", "[::1]");
    const tally = await stopLoad();
    expect(tally.errors).toEqual([]);
    expect(tally.answered).toBeGreaterThan(0);
    // `up` returns while the name is still being probed (RFC 6762 §8.1, under a second): wait for the announcement.
    await heard.until('{"name":"myapp.local","type":"A"', "announcement of myapp.local");
  }, 30_000);

  test("dig from b gets a's address for the shared route, and nothing for the lan: false one", async () => {
    expect((await dig("myapp.local")).stdout.trim()).toBe(pair.a.v4);
    expect((await dig("priv.local")).stdout).toContain("timed out");
  });

  test("b's avahi resolves the name and browses the route", async () => {
    expect((await phone.run(["avahi-resolve", "-4", "-n", "myapp.local"])).stdout).toBe(`myapp.local\t${pair.a.v4}\n`);
    const browse = (await phone.run(["avahi-browse", "-rtp", "_https._tcp"])).stdout;
    const fields = browse
      .split("\n")
      .filter((line) => line.startsWith("=") && line.includes(";IPv4;"))
      .map((line) => line.split(";"));
    const myapp = fields.find((f) => f[3] === "myapp\\.local");
    expect(myapp?.slice(6, 9)).toEqual(["myapp.local", pair.a.v4, String(HTTPS_PORT)]);
    expect(fields.some((f) => f[3] === "priv\\.local")).toBe(false);
  });

  test("curl from b, resolving through nss-mdns (no --resolve), gets the upstream's 200; lan: false gets 403", async () => {
    const shared = await curlFromB(`https://myapp.local:${HTTPS_PORT}/`);
    expect(shared.stderr).toBe("");
    expect(shared.stdout).toBe("hello from upstream 200");
    // priv.local is not announced, so only --resolve reaches it: the proxy itself must refuse the LAN client.
    const refused = await curlFromB(`https://priv.local:${HTTPS_PORT}/`, [
      "--resolve",
      `priv.local:${HTTPS_PORT}:${pair.a.v4}`,
    ]);
    expect(refused.stdout).toContain("priv.local is not shared on the LAN (lan: false)");
    expect(refused.stdout.endsWith(" 403")).toBe(true);
  });

  test("moving a's interface to a new address updates the answer", async () => {
    const moved = `${pair.prefix}.5`;
    for (const argv of [
      ["ip", "-n", pair.a.ns, "addr", "del", `${pair.a.v4}/24`, "dev", pair.a.iface],
      ["ip", "-n", pair.a.ns, "addr", "add", `${moved}/24`, "dev", pair.a.iface],
    ])
      expect((await run(argv)).code).toBe(0);
    address = moved;
    await eventually(
      async () => ((await dig("myapp.local")).stdout.trim() === moved ? true : undefined),
      "dig answering with the new address",
    );
  }, 20_000);

  test("`gotunnel stop myapp.local` says goodbye, avahi forgets the name, and the daemon is loopback-only", async () => {
    const from = heard.text().length;
    const stopLoad = await loadOnLoopback(scope.dir("load"));
    expect((await inA(["stop", "myapp.local"])).code).toBe(0);
    await heard.until('{"name":"myapp.local","type":"A","ttl":0}', "goodbye for myapp.local", from);
    // priv.local (lan: false) and web.localhost remain: neither is a reason to listen on the LAN.
    await listensOn("127.0.0.1", "[::1]");
    const tally = await stopLoad();
    expect(tally.errors).toEqual([]);
    // avahi keeps a record for a second after its goodbye (RFC 6762 §10.1), then asks the link, which stays silent.
    const forgotten = async () => {
      const resolved = await phone.run(["avahi-resolve", "-4", "-n", "myapp.local"]);
      return resolved.stderr.includes("Failed to resolve") ? true : undefined;
    };
    await eventually(forgotten, "avahi-resolve failing for myapp.local", 15_000);
  }, 30_000);

  test("`gotunnel daemon stop` says goodbye for every name still announced", async () => {
    let from = heard.text().length;
    expect((await inA(["start", "-d", "other", "-p", String(UPSTREAM_PORT)])).code).toBe(0);
    await heard.until('{"name":"other.local","type":"A"', "announcement of other.local", from);
    from = heard.text().length;
    expect((await inA(["daemon", "stop"])).code).toBe(0);
    await heard.until('{"name":"other.local","type":"A","ttl":0}', "goodbye for other.local", from);
  }, 20_000);
});
