/**
 * The mDNS responder on a real link, against real clients: two network namespaces joined by a veth pair (created
 * by tests/helpers/netns.ts; no packet reaches this machine's interfaces). Host "a" runs the responder next to its
 * own avahi-daemon (the coexistence case), an HTTPS server with a leaf from gotunnel's CA and the onboarding page;
 * host "b" is a phone or laptop on the same Wi-Fi: dig, avahi-resolve, avahi-browse, curl through nss-mdns, and
 * `gotunnel discover`. Skips with the reason when not root or a tool is missing.
 *
 * The last describe needs no root: it fetches the onboarding downloads on loopback and checks them with python3's
 * plistlib and openssl.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { onboardingResponse } from "../../src/onboarding/index.ts";
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
const HTTPS_PORT = 8443;
const HTTP_PORT = 8080;
const ROUTES = [{ name: "myapp.local" }, { name: "other.local" }];

/** Runs inside namespace a: upstream, HTTPS server, onboarding listener and the responder; JSON lines in and out. */
const RESPONDER_SCRIPT = `
const root = process.env.GT_ROOT;
const { loadOrCreateCA, CertificateStore, issuerFor } = await (await import(root + "/src/tls/load.ts")).loadTls();
const { startMdns } = await import(root + "/src/mdns/index.ts");
const { onboardingResponse } = await import(root + "/src/onboarding/index.ts");
const { ca } = await loadOrCreateCA(process.env.GOTUNNEL_HOME + "/ca");
const tls = await new CertificateStore(ca, { issue: issuerFor(ca) }).tlsEntries([{ name: "myapp.local", wildcard: false }]);
const upstream = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("hello from upstream") });
Bun.serve({ hostname: "0.0.0.0", port: ${HTTPS_PORT}, tls, fetch: (req) => fetch("http://127.0.0.1:" + upstream.port + new URL(req.url).pathname) });
const onboarding = { caPem: ca.certPem, caName: ca.commonName, urls: ["https://myapp.local:${HTTPS_PORT}/"] };
Bun.serve({ hostname: "0.0.0.0", port: ${HTTP_PORT}, fetch: (req) => onboardingResponse(req, onboarding) ?? new Response("no", { status: 404 }) });
const say = (event) => console.log(JSON.stringify(event));
const mdns = await startMdns({ routes: JSON.parse(process.env.GT_ROUTES), httpsPort: ${HTTPS_PORT}, interfacePollMs: 500, onEvent: say });
say({ type: "ready", caPath: ca.certPath, fingerprint: ca.fingerprintSha256 });
for await (const line of console) {
  const command = JSON.parse(line);
  if (command.routes) { await mdns.update(command.routes); say({ type: "updated" }); }
  if (command.stop) { await mdns.stop(); say({ type: "stopped" }); process.exit(0); }
}
`;

const skip = netnsSkipReason();

describe.skipIf(skip !== undefined)(`mDNS between two network namespaces${skip ? ` (skipped: ${skip})` : ""}`, () => {
  let dir: string;
  let pair: NetnsPair;
  let peer: AvahiHost;
  let local: AvahiHost;
  let responder: Subprocess<"pipe", "pipe", "inherit">;
  let events: ReturnType<typeof collect>;
  let caPath: string;

  const send = (command: unknown) => {
    responder.stdin.write(`${JSON.stringify(command)}\n`);
    responder.stdin.flush();
  };
  const dig = (argv: string[]) => run(pair.exec(pair.b.ns, ["dig", "+tries=1", "+time=2", ...argv]));
  const browse = async () => (await peer.run(["avahi-browse", "-ptr", "_https._tcp"])).stdout;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "gotunnel-mdns-"));
    for (const sub of ["peer", "local", "home"]) mkdirSync(join(dir, sub));
    pair = createNetnsPair();
    // avahi on host a first: the responder must share port 5353 with it (SO_REUSEADDR).
    [local, peer] = await Promise.all([
      startAvahi(pair, pair.a, join(dir, "local"), "gthosta"),
      startAvahi(pair, pair.b, join(dir, "peer"), "gthostb"),
    ]);
    writeFileSync(join(dir, "responder.ts"), RESPONDER_SCRIPT);
    responder = Bun.spawn(pair.exec(pair.a.ns, [process.execPath, join(dir, "responder.ts")]), {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
      env: { ...process.env, GT_ROOT: ROOT, GOTUNNEL_HOME: join(dir, "home"), GT_ROUTES: JSON.stringify(ROUTES) },
    });
    events = collect(responder.stdout);
    await events.until('"type":"announced"', "responder", 0, 20_000);
    caPath = JSON.parse(
      events
        .text()
        .split("\n")
        .find((line) => line.includes('"ready"')) ?? "{}",
    ).caPath;
  }, 40_000);

  afterAll(() => {
    responder?.kill("SIGKILL");
    peer?.stop();
    local?.stop();
    pair?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("dig @responder -p 5353 (legacy unicast) gets A and AAAA of the interface, TTL ≤ 10, question echoed", async () => {
    const a = await dig([`@${pair.a.v4}`, "-p", "5353", "myapp.local", "A", "+noall", "+question", "+answer"]);
    expect(a.stdout).toContain(";myapp.local.\t\t\tIN\tA");
    const answer = a.stdout.split("\n").find((line) => line.startsWith("myapp.local.") && line.includes("\tA\t"));
    expect(answer?.split(/\s+/)).toEqual(["myapp.local.", "10", "IN", "A", pair.a.v4]);
    const aaaa = await dig([`@${pair.a.v6}`, "-p", "5353", "myapp.local", "AAAA", "+short"]);
    expect(aaaa.stdout.trim()).toBe(pair.a.v6);
    const unknown = await dig([`@${pair.a.v4}`, "-p", "5353", "nobody.local", "A", "+short"]);
    expect(unknown.stdout).toContain("timed out");
  });

  test("avahi on the other host resolves the name; avahi on the same host does too", async () => {
    expect((await peer.run(["avahi-resolve", "-4", "-n", "myapp.local"])).stdout).toBe(`myapp.local\t${pair.a.v4}\n`);
    expect((await peer.run(["avahi-resolve", "-6", "-n", "myapp.local"])).stdout).toBe(`myapp.local\t${pair.a.v6}\n`);
    expect((await local.run(["avahi-resolve", "-4", "-n", "myapp.local"])).stdout).toBe(`myapp.local\t${pair.a.v4}\n`);
  });

  test("avahi-browse -rt _https._tcp lists each route with host, port and TXT", async () => {
    const lines = (await browse()).split("\n").filter((line) => line.startsWith("=") && line.includes(";IPv4;"));
    const fields = lines.map((line) => line.split(";"));
    const myapp = fields.find((f) => f[3] === "myapp\\.local");
    expect(myapp?.slice(6)).toEqual(["myapp.local", pair.a.v4, String(HTTPS_PORT), '"gotunnel=1" "path=/"']);
    expect(fields.some((f) => f[3] === "other\\.local")).toBe(true);
  });

  test("curl resolves the name through nss-mdns (no --resolve) and gets the upstream's 200 over gotunnel TLS", async () => {
    const url = `https://myapp.local:${HTTPS_PORT}/`;
    const result = await peer.run(["curl", "-sS", "--max-time", "5", "--cacert", caPath, "-w", " %{http_code}", url]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe("hello from upstream 200");
    const hosts = await peer.run(["getent", "hosts", "myapp.local"]);
    expect(hosts.stdout.trim().split(/\s+/)).toEqual([pair.a.v4, "myapp.local"]);
  });

  test("the phone's side fetches the onboarding page and downloads over plain HTTP", async () => {
    const base = `http://${pair.a.v4}:${HTTP_PORT}/_gotunnel/`;
    const page = await peer.run(["curl", "-sS", "--max-time", "5", "-A", "Mozilla/5.0 (iPhone)", base]);
    expect(page.stdout).toContain('<details id="ios" open>');
    const profile = await peer.run(["curl", "-sS", "-D", "-", "-o", "/dev/null", `${base}gotunnel-ca.mobileconfig`]);
    expect(profile.stdout.toLowerCase()).toContain("content-type: application/x-apple-aspen-config");
  });

  test("gotunnel discover --json on the other host lists the route with its addresses", async () => {
    const result = await run(
      pair.exec(pair.b.ns, [process.execPath, join(ROOT, "src/main.ts"), "discover", "--json", "--timeout", "1500ms"]),
    );
    const { services } = JSON.parse(result.stdout) as { services: { name: string; addresses: string[] }[] };
    const myapp = services.find((service) => service.name === "myapp.local");
    expect(myapp).toMatchObject({ url: `https://myapp.local:${HTTPS_PORT}/`, gotunnel: true, port: HTTPS_PORT });
    expect(myapp?.addresses).toEqual([pair.a.v4, pair.a.v6].sort());
  });

  test("a name another host already holds is reported as a conflict and not answered", async () => {
    const publish = peer.spawn(["avahi-publish", "-a", "-R", "taken.local", pair.b.v4]);
    await collect(publish.stderr).until("Established", "avahi-publish");
    const from = events.text().length;
    send({ routes: [...ROUTES, { name: "taken.local" }] });
    await events.until('"type":"conflict","name":"taken.local"', "conflict event", from);
    const answer = await dig([`@${pair.a.v4}`, "-p", "5353", "taken.local", "A", "+short"]);
    expect(answer.stdout.split("\n")).not.toContain(pair.a.v4);
    expect(answer.stdout).toContain("timed out");
    publish.kill();
  }, 15_000);

  test("moving the interface to a new address updates dig's answer and avahi's cache", async () => {
    const moved = `${pair.prefix}.5`;
    for (const argv of [
      ["ip", "-n", pair.a.ns, "addr", "del", `${pair.a.v4}/24`, "dev", pair.a.iface],
      ["ip", "-n", pair.a.ns, "addr", "add", `${moved}/24`, "dev", pair.a.iface],
    ])
      expect((await run(argv)).code).toBe(0);
    await eventually(async () => {
      const answer = await dig([`@${moved}`, "-p", "5353", "myapp.local", "A", "+short"]);
      return answer.stdout.trim() === moved ? true : undefined;
    }, "dig answering with the new address");
    await eventually(async () => {
      const resolved = await peer.run(["avahi-resolve", "-4", "-n", "myapp.local"]);
      return resolved.stdout.includes(moved) ? true : undefined;
    }, "avahi-resolve returning the new address");
  }, 20_000);

  test("dropping a route sends a goodbye that avahi honours", async () => {
    const from = events.text().length;
    send({ routes: ROUTES.slice(0, 1) });
    // taken.local was never announced (conflict), so it needs no goodbye.
    await events.until('"type":"goodbye","names":["other.local"]', "goodbye event", from);
    await eventually(async () => ((await browse()).includes("other\\.local") ? undefined : true), "browse removal");
    const resolved = await peer.run(["avahi-resolve", "-4", "-n", "other.local"]);
    expect(resolved.stderr).toContain("Failed to resolve");
  }, 20_000);

  test("stopping the responder says goodbye for every name", async () => {
    expect(await browse()).toContain("myapp\\.local");
    const from = events.text().length;
    send({ stop: true });
    await events.until('"type":"stopped"', "stop", from);
    await eventually(async () => ((await browse()).includes("myapp\\.local") ? undefined : true), "browse removal");
  }, 15_000);
});

/** Reads the profile with Apple's format as Python implements it, and prints what a device would look at. */
const PLIST_READER = `
import json, plistlib, sys
profile = plistlib.load(open(sys.argv[1], "rb"))
payload = profile["PayloadContent"][0]
print(json.dumps({
  "type": profile["PayloadType"], "uuid": profile["PayloadUUID"], "name": profile["PayloadDisplayName"],
  "payloadType": payload["PayloadType"], "payloadUuid": payload["PayloadUUID"], "der": payload["PayloadContent"].hex(),
}))
`;

const parsersMissing = ["python3", "openssl"].filter((tool) => !Bun.which(tool));

describe.skipIf(parsersMissing.length > 0)(
  `onboarding downloads, checked with real parsers${parsersMissing.length ? ` (skipped: no ${parsersMissing})` : ""}`,
  () => {
    let dir: string;
    let server: ReturnType<typeof Bun.serve>;
    let ca: { certPem: string; commonName: string; fingerprintSha256: string };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "gotunnel-onboarding-"));
      const { loadOrCreateCA } = await (await import("../../src/tls/load.ts")).loadTls();
      ({ ca } = await loadOrCreateCA(join(dir, "ca")));
      const context = { caPem: ca.certPem, caName: ca.commonName, urls: [] };
      server = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        fetch: (req) => onboardingResponse(req, context) ?? new Response("no", { status: 404 }),
      });
    });

    afterAll(() => {
      server?.stop(true);
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    async function download(name: string): Promise<string> {
      const response = await fetch(`http://127.0.0.1:${server.port}/_gotunnel/${name}`);
      expect(response.status).toBe(200);
      const path = join(dir, name);
      writeFileSync(path, new Uint8Array(await response.arrayBuffer()));
      return path;
    }

    async function derOf(pem: string): Promise<string> {
      const path = join(dir, "ca.pem");
      writeFileSync(path, pem);
      const der = Bun.spawnSync(["openssl", "x509", "-in", path, "-outform", "DER"]);
      return Buffer.from(der.stdout).toString("hex");
    }

    test(".mobileconfig is a plist whose com.apple.security.root payload carries the CA's DER", async () => {
      const path = await download("gotunnel-ca.mobileconfig");
      const parsed = await run(["python3", "-c", PLIST_READER, path]);
      expect(parsed.stderr).toBe("");
      const profile = JSON.parse(parsed.stdout);
      expect(profile).toMatchObject({
        type: "Configuration",
        payloadType: "com.apple.security.root",
        name: ca.commonName,
      });
      expect(profile.der).toBe(await derOf(ca.certPem));
      expect(profile.uuid).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
      expect(profile.uuid).not.toBe(profile.payloadUuid);
    });

    test(".crt is DER that openssl reads as gotunnel's CA (same fingerprint)", async () => {
      const path = await download("gotunnel-ca.crt");
      const read = await run([
        "openssl",
        "x509",
        "-inform",
        "DER",
        "-in",
        path,
        "-noout",
        "-fingerprint",
        "-sha256",
        "-subject",
      ]);
      expect(read.code).toBe(0);
      const fingerprint = /Fingerprint=([0-9A-F:]+)/.exec(read.stdout)?.[1]?.replaceAll(":", "").toLowerCase();
      expect(fingerprint).toBe(ca.fingerprintSha256);
      expect(read.stdout).toContain(ca.commonName);
    });

    test(".pem is the same certificate", async () => {
      const path = await download("gotunnel-ca.pem");
      expect(await derOf(readFileSync(path, "utf8"))).toBe(await derOf(ca.certPem));
    });
  },
);
