/**
 * Whether a route's dev server accepts connections right now, for `gotunnel list`. A TCP connect, not a request:
 * it must not show up in the dev server's own log, and it must be cheap enough to run for every route on each list.
 */

/** Loopback answers in well under a millisecond; a dev server slower than this to accept is reported as down. */
const PROBE_TIMEOUT_MS = 300;

/** `localhost` may be served on 127.0.0.1 or on ::1 only (Vite picks one): either counts as up. */
export async function probeTarget(hostname: string, port: number): Promise<boolean> {
  const addresses = hostname === "localhost" ? ["127.0.0.1", "::1"] : [hostname];
  const results = await Promise.all(addresses.map((address) => probeTcp(address, port)));
  return results.includes(true);
}

export function probeTcp(hostname: string, port: number, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    Bun.connect({
      hostname,
      port,
      socket: {
        open(socket) {
          clearTimeout(timer);
          socket.end();
          resolve(true);
        },
        data() {},
      },
    }).then(undefined, () => {
      // Refused or unreachable: that is the answer this probe exists to give.
      clearTimeout(timer);
      resolve(false);
    });
  });
}
