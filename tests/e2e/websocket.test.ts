/**
 * WebSockets through the compiled binary, with Bun's WebSocket client in this process as the browser. Verified on
 * Bun 1.4.5: `new WebSocket("wss://127.0.0.1:P/", { headers: { host }, tls: { ca, serverName } })` sends SNI
 * `serverName`, verifies the chain against `ca` and the name against `serverName`, and sends our Host header.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { E2EScope, freePort, type Gotunnel, requireBinary, runGotunnel } from "../helpers/e2e.ts";
import { startWebSocketUpstream, type WsUpstream } from "../helpers/upstreams.ts";

const scope = new E2EScope();
let gotunnel: Gotunnel;
let upstream: WsUpstream;
let ca = "";
/** Nothing listens here: the dev server is not running. */
let downPort = 0;
/** Bounds each wait for a socket event. */
const EVENT_TIMEOUT_MS = 10_000;

beforeAll(async () => {
  requireBinary();
  upstream = startWebSocketUpstream();
  scope.defer(upstream.stop);
  downPort = await freePort();
  // first.local comes first so its certificate is the default one: getting myapp.local's proves SNI was sent.
  const dir = scope.project({
    "gotunnel.config.json": JSON.stringify({
      routes: { "first.local": 1, "myapp.local": upstream.port, "down.local": downPort },
    }),
  });
  gotunnel = await scope.up(dir, scope.dir("home"));
  ca = await Bun.file(gotunnel.caPath).text();
});

afterAll(() => scope.dispose());

interface Client {
  ws: WebSocket;
  /** Subject CN and SAN of the certificate the proxy presented. */
  peer: { cn: string | undefined; san: string | undefined };
  next(): Promise<string | ArrayBuffer>;
  closed: Promise<CloseEvent>;
}

/** Opens wss://127.0.0.1:<https port>/hmr as `name` and waits for the open event. */
async function connect(protocols: string[] = [], tlsCa = ca, name = "myapp.local"): Promise<Client> {
  const peer: Client["peer"] = { cn: undefined, san: undefined };
  const ws = new WebSocket(`wss://127.0.0.1:${gotunnel.httpsPort}/hmr?token=1`, {
    headers: { host: `${name}:${gotunnel.httpsPort}` },
    protocols,
    tls: {
      ca: tlsCa,
      serverName: name,
      // Records the certificate, then applies the standard name check (it still decides).
      checkServerIdentity(host: string, cert: PeerCertificate) {
        const cn = cert.subject?.CN;
        peer.cn = Array.isArray(cn) ? cn.join(",") : cn;
        peer.san = cert.subjectaltname;
        return checkServerIdentity(host, cert);
      },
    },
  } as unknown as string[]);
  ws.binaryType = "arraybuffer";
  const inbox: (string | ArrayBuffer)[] = [];
  const waiting: ((message: string | ArrayBuffer) => void)[] = [];
  ws.addEventListener("message", (event) => {
    const message = event.data as string | ArrayBuffer;
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else inbox.push(message);
  });
  const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener("close", resolve));
  await within(
    new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve());
      ws.addEventListener("error", (event) => reject(new Error(`WebSocket error: ${(event as ErrorEvent).message}`)));
    }),
    "open",
  );
  const next = () => {
    const queued = inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return within(new Promise<string | ArrayBuffer>((resolve) => waiting.push(resolve)), "message");
  };
  scope.defer(() => ws.readyState < WebSocket.CLOSING && ws.close());
  return { ws, peer, next, closed };
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no WebSocket ${what} within ${EVENT_TIMEOUT_MS} ms`)), EVENT_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe("WebSocket through the proxy", () => {
  test("the handshake uses SNI myapp.local, trusts the gotunnel CA, and keeps Host and path", async () => {
    const before = upstream.handshakes.length;
    const client = await connect();
    expect(client.peer).toEqual({ cn: "myapp.local", san: "DNS:myapp.local" });
    expect(upstream.handshakes.slice(before)).toEqual([
      { path: "/hmr?token=1", host: `myapp.local:${gotunnel.httpsPort}`, protocols: null },
    ]);
    client.ws.close();
  });

  test("without the gotunnel CA the handshake is refused", async () => {
    const otherHome = scope.dir("other-home");
    const otherCa = (await runGotunnel(["ca", "--pem"], { cwd: otherHome, home: otherHome })).stdout;
    expect(otherCa).toStartWith("-----BEGIN CERTIFICATE-----");
    await expect(connect([], otherCa)).rejects.toThrow(/certificate|verify/i);
  });

  test("text stays text and binary stays binary, both ways", async () => {
    const client = await connect();
    client.ws.send("hello over wss");
    expect(await client.next()).toBe("hello over wss");
    const bytes = new Uint8Array([0, 1, 2, 127, 128, 254, 255]);
    client.ws.send(bytes);
    const echoed = await client.next();
    expect(echoed).toBeInstanceOf(ArrayBuffer);
    expect([...new Uint8Array(echoed as ArrayBuffer)]).toEqual([...bytes]);
    client.ws.close();
  });

  test("the subprotocol the client offers and the upstream accepts (vite-hmr) is what the client sees", async () => {
    const before = upstream.handshakes.length;
    const client = await connect(["vite-hmr"]);
    expect(client.ws.protocol).toBe("vite-hmr");
    expect(upstream.handshakes.slice(before).map((h) => h.protocols)).toEqual(["vite-hmr"]);
    client.ws.close();
  });

  test("an upstream close with code 4001 and a reason reaches the client", async () => {
    const client = await connect();
    client.ws.send("close 4001 upstream says bye");
    const event = await within(client.closed, "close");
    expect([event.code, event.reason]).toEqual([4001, "upstream says bye"]);
  });

  test("a client close with code 4001 and a reason reaches the upstream", async () => {
    const client = await connect();
    client.ws.send("ping");
    expect(await client.next()).toBe("ping");
    const before = upstream.closes.length;
    client.ws.close(4001, "client says bye");
    await within(client.closed, "close");
    for (let i = 0; i < 100 && upstream.closes.length === before; i++) await Bun.sleep(50);
    expect(upstream.closes.slice(before)).toEqual([{ code: 4001, reason: "client says bye" }]);
  });

  test("a 1 MiB binary message makes the round trip intact", async () => {
    const client = await connect();
    const big = new Uint8Array(1024 * 1024).map((_, i) => (i * 7) % 256);
    client.ws.send(big);
    const echoed = await client.next();
    expect(echoed).toBeInstanceOf(ArrayBuffer);
    expect(Buffer.from(echoed as ArrayBuffer).equals(Buffer.from(big))).toBe(true);
    client.ws.close();
  });

  test("when the upstream is down the handshake fails instead of opening a dead socket", async () => {
    await expect(connect([], ca, "down.local")).rejects.toThrow(/WebSocket error/);
    await gotunnel.stdout.waitFor(
      (line) => line.includes('"route":"down.local"') && line.includes('"status":502'),
      10_000,
    );
  });
});
