/**
 * The loopback HTTP proxy of one `gotunnel run`, for the one client that cannot be told where a name points: Bun's
 * `fetch` and `WebSocket` resolve natively (getaddrinfo, which reads only the system's hosts file) but accept a
 * `proxy`, and the run's Bun preload (ci/preload.ts) passes this one for its route names. A CONNECT (RFC 9110 §9.3.6)
 * to one of our names opens a TCP connection to the proxy's address; TLS then runs inside it between the client and
 * gotunnel, by name, so nothing here sees or changes the traffic. Any other name is connected to as the system
 * resolves it (a redirect from a route to another site follows the same proxy). Plain-HTTP requests arrive in
 * absolute form (RFC 9112 §3.2.2), which Bun.serve accepts as it is: the head is passed on unchanged.
 */
import { connect, createServer, type Socket } from "node:net";

/** A request head longer than this is not a proxy request from Bun: refused. */
const MAX_HEAD_BYTES = 16 * 1024;
const HEAD_END = "\r\n\r\n";

export interface Tunnel {
  /** `http://127.0.0.1:PORT`, the value of Bun's `proxy` option. */
  url: string;
  stop(): Promise<void>;
}

/** Listens on 127.0.0.1 (any free port); `addressOf` maps a host name to where to connect instead, if anywhere. */
export async function startTunnel(addressOf: (host: string) => string | undefined): Promise<Tunnel> {
  const open = new Set<Socket>();
  const track = (socket: Socket) => {
    open.add(socket);
    socket.once("close", () => open.delete(socket));
  };
  const server = createServer((client) => {
    track(client);
    readHead(client, (head, rest) => forward(client, head, rest, addressOf, track));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function readHead(client: Socket, then: (head: string, rest: Buffer) => void): void {
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    const end = buffered.indexOf(HEAD_END);
    if (end === -1 && buffered.length <= MAX_HEAD_BYTES) return;
    client.off("data", onData);
    if (end === -1) {
      refuse(client, "431 Request Header Fields Too Large");
      return;
    }
    client.pause();
    then(buffered.subarray(0, end + HEAD_END.length).toString("latin1"), buffered.subarray(end + HEAD_END.length));
  };
  client.on("data", onData);
  client.on("error", () => client.destroy()); // The client went away: nothing to answer.
}

interface Target {
  host: string;
  port: number;
  /** CONNECT: answer 200, then relay. Otherwise the head itself goes on to the server. */
  connect: boolean;
}

/** `CONNECT host:port HTTP/1.1` or `GET http://host:port/path HTTP/1.1`; undefined for anything else. */
export function parseTarget(head: string): Target | undefined {
  const [method, target] = head.slice(0, head.indexOf("\r\n")).split(" ");
  if (!method || !target) return undefined;
  if (method === "CONNECT") {
    const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(target);
    return match?.[1] && match[2] ? { host: match[1], port: Number(match[2]), connect: true } : undefined;
  }
  if (!target.startsWith("http://")) return undefined;
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return undefined; // Not a URL: refused with a 400 by the caller.
  }
  return { host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || 80), connect: false };
}

function forward(
  client: Socket,
  head: string,
  rest: Buffer,
  addressOf: (host: string) => string | undefined,
  track: (socket: Socket) => void,
): void {
  const target = parseTarget(head);
  if (!target) {
    refuse(client, "400 Bad Request");
    return;
  }
  const upstream = connect({ host: addressOf(target.host) ?? target.host, port: target.port });
  track(upstream);
  let connected = false;
  upstream.once("connect", () => {
    connected = true;
    if (target.connect) client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    else upstream.write(Buffer.from(head, "latin1"));
    if (rest.length > 0) upstream.write(rest);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  });
  // Before the connection: the client learns why (as curl shows a proxy's 502). After it: both ends close.
  upstream.on("error", () => (connected ? client.destroy() : refuse(client, "502 Bad Gateway")));
  client.once("close", () => upstream.destroy());
}

function refuse(client: Socket, status: string): void {
  client.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
}
