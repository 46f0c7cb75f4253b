/**
 * `gotunnel run`'s tunnel (src/daemon/ci/tunnel.ts) on real loopback sockets: a CONNECT to one of our names reaches
 * the mapped address, other names resolve as the system does, a plain-HTTP request passes on unchanged, and what it
 * cannot serve gets a status line, never a hang.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, createServer, type Server, type Socket } from "node:net";
import { startTunnel, type Tunnel } from "../../src/daemon/ci/tunnel.ts";

/** Answers every connection with what it received, prefixed, so a test sees exactly what arrived. */
let echo: Server;
let echoPort: number;
let tunnel: Tunnel;
const asked: string[] = [];

beforeAll(async () => {
  echo = createServer((socket) => socket.on("data", (chunk) => socket.write(`echo:${chunk.toString("latin1")}`)));
  await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
  echoPort = (echo.address() as { port: number }).port;
  tunnel = await startTunnel((host) => {
    asked.push(host);
    return host === "myapp.local" ? "127.0.0.1" : undefined;
  });
});
afterAll(async () => {
  await tunnel.stop();
  echo.close();
});

/** Opens a client to the tunnel, writes `data`, and collects what comes back until `until` matches or it closes. */
async function exchange(data: string, until: (text: string) => boolean): Promise<{ text: string; socket: Socket }> {
  const port = Number(new URL(tunnel.url).port);
  const socket = connect(port, "127.0.0.1");
  let text = "";
  await new Promise<void>((resolve) => {
    socket.on("data", (chunk) => {
      text += chunk.toString("latin1");
      if (until(text)) resolve();
    });
    socket.on("close", () => resolve());
    socket.write(data);
  });
  return { text, socket };
}

describe("ci tunnel", () => {
  test("CONNECT to our name: 200, then bytes both ways (also those sent with the head)", async () => {
    const head = `CONNECT myapp.local:${echoPort} HTTP/1.1\r\nHost: myapp.local:${echoPort}\r\n\r\n`;
    const { text, socket } = await exchange(`${head}hello`, (received) => received.includes("echo:hello"));
    expect(text).toBe("HTTP/1.1 200 Connection Established\r\n\r\necho:hello");
    socket.destroy();
  });

  test("a name that is not ours is connected to as the system resolves it", async () => {
    const head = `CONNECT localhost:${echoPort} HTTP/1.1\r\n\r\n`;
    const { text, socket } = await exchange(`${head}x`, (received) => received.includes("echo:x"));
    expect(text).toEndWith("echo:x");
    expect(asked).toContain("localhost");
    socket.destroy();
  });

  test("plain HTTP in absolute form: the head reaches the server unchanged", async () => {
    const request = `GET http://myapp.local:${echoPort}/a?b=1 HTTP/1.1\r\nHost: myapp.local:${echoPort}\r\n\r\n`;
    const { text, socket } = await exchange(request, (received) => received.endsWith("\r\n\r\n"));
    expect(text).toBe(`echo:${request}`);
    socket.destroy();
  });

  test("nothing listening there: 502; not a proxy request: 400", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const deadPort = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = await exchange(`CONNECT myapp.local:${deadPort} HTTP/1.1\r\n\r\n`, () => false);
    expect(refused.text).toStartWith("HTTP/1.1 502 Bad Gateway\r\n");
    const bad = await exchange("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n", () => false);
    expect(bad.text).toStartWith("HTTP/1.1 400 Bad Request\r\n");
  });

  test("a head that never ends: 431 once it passes 16 KiB", async () => {
    const endless = await exchange(
      `CONNECT myapp.local:${echoPort} HTTP/1.1\r\nX: ${"a".repeat(17 * 1024)}`,
      () => false,
    );
    expect(endless.text).toStartWith("HTTP/1.1 431 Request Header Fields Too Large\r\n");
  });

  test("stop() closes the tunnels still open", async () => {
    const other = await startTunnel(() => "127.0.0.1");
    const port = Number(new URL(other.url).port);
    const socket = connect(port, "127.0.0.1");
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    await new Promise<void>((resolve) => {
      socket.on("data", () => resolve());
      socket.write(`CONNECT anything:${echoPort} HTTP/1.1\r\n\r\n`);
    });
    await other.stop();
    await closed; // completes within the test timeout: nothing keeps the client's socket open
  });
});
