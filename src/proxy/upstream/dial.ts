/**
 * Opening upstream sockets. `localhost` is special: a dev server may listen on 127.0.0.1 only (many Node tools)
 * or on ::1 only (Vite on some systems), so we try both and remember per origin which one answered.
 */
import { Connection, type ConnectionOwner, SOCKET_HANDLERS, type UpstreamSocket } from "./connection.ts";
import { connectError, connectTimeoutError, isConnectionRefused } from "./errors.ts";

export const LOOPBACK_V4 = "127.0.0.1";
export const LOOPBACK_V6 = "::1";

/** Where to dial and what we learnt about it; implemented by Origin. */
export interface DialTarget extends ConnectionOwner {
  /** The host to connect to, IPv6 literals without brackets. */
  readonly address: string;
  readonly port: number;
  /** `localhost` or a `*.localhost` name (RFC 6761 §6.3): dial the loopback addresses ourselves. */
  readonly isLocalhost: boolean;
  /** The loopback address that last accepted a connection, or null. */
  preferredLoopback: string | null;
}

function dialAddress(target: DialTarget, conn: Connection, hostname: string): Promise<UpstreamSocket> {
  return Bun.connect<Connection>({ hostname, port: target.port, socket: SOCKET_HANDLERS, data: conn });
}

/** 127.0.0.1 then ::1 (or the remembered one first); a refusal makes us forget the remembered address. */
async function dialLoopback(target: DialTarget, conn: Connection): Promise<UpstreamSocket> {
  const first = target.preferredLoopback ?? LOOPBACK_V4;
  try {
    const socket = await dialAddress(target, conn, first);
    target.preferredLoopback = first;
    return socket;
  } catch (err) {
    if (!isConnectionRefused(err)) throw err;
    target.preferredLoopback = null;
  }
  const second = first === LOOPBACK_V4 ? LOOPBACK_V6 : LOOPBACK_V4;
  const socket = await dialAddress(target, conn, second);
  target.preferredLoopback = second;
  return socket;
}

/** Connects a new socket for `target`, bounded by `timeoutMs`; rejects with an UpstreamError. */
export function dial(target: DialTarget, timeoutMs: number): Promise<Connection> {
  const conn = new Connection(target);
  return new Promise<Connection>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      // A socket that connects after this point is closed on arrival (see below).
      conn.disposed = true;
      reject(connectTimeoutError(target.label, timeoutMs));
    }, timeoutMs);
    const connecting = target.isLocalhost ? dialLoopback(target, conn) : dialAddress(target, conn, target.address);
    connecting.then(
      (socket) => {
        clearTimeout(timer);
        if (settled) {
          socket.terminate();
          return;
        }
        settled = true;
        conn.attach(socket);
        resolve(conn);
      },
      (err: unknown) => {
        clearTimeout(timer);
        // After a timeout the caller already has its error; a late connect failure adds nothing.
        if (settled) return;
        settled = true;
        reject(connectError(err, target.label));
      },
    );
  });
}
