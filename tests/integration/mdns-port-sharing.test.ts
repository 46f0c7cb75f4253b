/**
 * Sharing UDP port 5353 with the OS's own responder, on real sockets. macOS's mDNSResponder holds *:5353 with
 * SO_REUSEPORT only; a second socket may then bind it only with SO_REUSEPORT too. Linux enforces the same rule for a
 * SO_REUSEPORT-only holder (same user), so a stand-in holder on an ephemeral port shows what our socket options do
 * against mDNSResponder: the darwin options bind next to it, the Linux ones (SO_REUSEADDR, which is what avahi
 * needs) do not. The real mDNSResponder is only on the macOS runner (unverified here).
 */
import { afterEach, expect, test } from "bun:test";
import { createSocket, type Socket, type SocketOptions } from "node:dgram";
import { socketOptions } from "../../src/mdns/transport.ts";

const open: Socket[] = [];
afterEach(() => {
  for (const socket of open.splice(0)) socket.close();
});

function bind(options: SocketOptions, port: number): Promise<{ port: number } | { error: string }> {
  return new Promise((resolve) => {
    const socket = createSocket(options);
    socket.once("error", (error) => {
      socket.close();
      resolve({ error: (error as NodeJS.ErrnoException).code ?? String(error) });
    });
    socket.bind(port, "0.0.0.0", () => {
      open.push(socket);
      resolve({ port: socket.address().port });
    });
  });
}

async function reusePortHolder(): Promise<number> {
  const held = await bind({ type: "udp4", reusePort: true }, 0);
  if (!("port" in held)) throw new Error(`the stand-in responder could not bind: ${held.error}`);
  return held.port;
}

test("darwin: binds next to a SO_REUSEPORT-only holder, as mDNSResponder is", async () => {
  const port = await reusePortHolder();
  expect(await bind(socketOptions("udp4", port, "darwin"), port)).toEqual({ port });
});

test("the Linux options (SO_REUSEADDR only) are refused by such a holder: why darwin differs", async () => {
  const port = await reusePortHolder();
  expect(await bind(socketOptions("udp4", port, "linux"), port)).toEqual({ error: "EADDRINUSE" });
});

test("port 0 (one-shot queries) shares nothing on any platform", () => {
  for (const platform of ["darwin", "linux", "win32"] as const) {
    expect(socketOptions("udp4", 0, platform)).toEqual({ type: "udp4", reuseAddr: false });
  }
  expect(socketOptions("udp6", 5353, "linux")).toEqual({ type: "udp6", reuseAddr: true, ipv6Only: true });
});
