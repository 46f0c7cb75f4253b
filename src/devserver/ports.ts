/**
 * A free port for a dev server gotunnel starts. Free on 127.0.0.1 and on ::1 alike, because a dev server told
 * `localhost` may bind either (Node 17+ resolves it in /etc/hosts order; Vite then takes that one address). There is
 * a window between this check and the server's bind; Vite's `--strictPort` turns a lost race into a clear failure.
 */
const ATTEMPTS = 20;

export function freePort(): number {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const v4 = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = v4.port;
    try {
      if (freeOnV6(port)) return port;
    } finally {
      v4.stop(true);
    }
  }
  throw new Error(`no port was free on both 127.0.0.1 and ::1 after ${ATTEMPTS} tries`);
}

function freeOnV6(port: number): boolean {
  try {
    Bun.listen({ hostname: "::1", port, socket: { data() {} } }).stop(true);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // No IPv6 loopback on this machine: nothing can take the port there either.
    if (code === "EADDRNOTAVAIL" || code === "EAFNOSUPPORT") return true;
    if (code === "EADDRINUSE") return false;
    throw error;
  }
}
