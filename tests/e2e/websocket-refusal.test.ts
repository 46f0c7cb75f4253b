/**
 * A dev server that refuses a WebSocket upgrade, through the compiled binary: the client gets the upstream's own
 * status and body (explained when it is a known framework refusal), never gotunnel's 502. The upstream is a raw TCP
 * server that answers each upgrade the way the frameworks do: Vite's 403 "Blocked request", a plain 401 sent
 * chunked, and Next.js 16's bare "Unauthorized" written with no status line.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { TCPSocketListener } from "bun";
import { E2EScope, type Gotunnel, requireBinary, run } from "../helpers/e2e.ts";
import { requireTools } from "../helpers/tools.ts";

const scope = new E2EScope();
afterAll(() => scope.dispose());
const curl = requireTools("curl");

const NAME = "refuse.local";
const VITE_BODY =
  'Blocked request. This host ("refuse.local") is not allowed.\nTo allow this host, add "refuse.local" to `server.allowedHosts` in vite.config.js.';

/** What the upstream writes for each path, then it closes the connection. */
const ANSWERS: Record<string, string> = {
  "/vite": `HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(VITE_BODY)}\r\n\r\n${VITE_BODY}`,
  "/token":
    "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nno tok\r\n7\r\nen here\r\n0\r\n\r\n",
  "/_next/webpack-hmr": "Unauthorized",
};

let upstream: TCPSocketListener<{ head: string }>;
let gotunnel: Gotunnel;

beforeAll(async () => {
  requireBinary();
  upstream = Bun.listen<{ head: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { head: "" };
      },
      data(socket, data) {
        socket.data.head += data.toString("latin1");
        if (!socket.data.head.includes("\r\n\r\n")) return;
        const path = socket.data.head.split(" ")[1] ?? "/";
        socket.end(ANSWERS[path] ?? "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
      },
    },
  });
  scope.defer(() => upstream.stop(true));
  const dir = scope.project({
    "gotunnel.config.json": JSON.stringify({ routes: { [NAME]: { target: upstream.port, https: false } } }),
  });
  gotunnel = await scope.up(dir, scope.dir("home"));
});

/** A WebSocket handshake as a browser sends it, with curl (which does not speak WebSocket over http://). */
async function upgrade(path: string): Promise<{ status: number; headers: string; body: string }> {
  const port = gotunnel.ready?.ports.http ?? 0;
  const result = await run([
    "curl",
    "-s",
    "-i",
    "--max-time",
    "10",
    "-H",
    `Host: ${NAME}`,
    "-H",
    "Connection: Upgrade",
    "-H",
    "Upgrade: websocket",
    "-H",
    "Sec-WebSocket-Version: 13",
    "-H",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "-H",
    "Accept: */*",
    `http://127.0.0.1:${port}${path}`,
  ]);
  const [head = "", ...rest] = result.stdout.split("\r\n\r\n");
  return { status: Number(head.split(" ")[1]), headers: head, body: rest.join("\r\n\r\n") };
}

describe("a refused WebSocket upgrade", () => {
  test.skipIf(curl.skip)(curl.title("Vite's 403 reaches the client as a 403 with its text and the fix"), async () => {
    const answer = await upgrade("/vite");
    expect(answer.status).toBe(403);
    expect(answer.headers.toLowerCase()).toContain("x-gotunnel-refused-by: vite");
    expect(answer.body).toContain('Blocked request. This host ("refuse.local") is not allowed.');
    expect(answer.body).toContain("gotunnel: refuse.local: Vite refused the host name");
  });

  test.skipIf(curl.skip)(curl.title("an unknown refusal passes as it was: status, type and body"), async () => {
    const answer = await upgrade("/token");
    expect(answer.status).toBe(401);
    expect(answer.headers.toLowerCase()).toContain("content-type: text/plain");
    expect(answer.body).toBe("no token here");
  });

  test.skipIf(curl.skip)(
    curl.title("Next's bare 'Unauthorized' (no status line) becomes its 403, explained"),
    async () => {
      const answer = await upgrade("/_next/webpack-hmr");
      expect(answer.status).toBe(403);
      expect(answer.headers.toLowerCase()).toContain("x-gotunnel-refused-by: next.js");
      expect(answer.body).toStartWith("Unauthorized");
      expect(answer.body).toContain("rewriteOrigin");
    },
  );
});
