/**
 * Turns bind failures into errors that say what happened and the exact next step. Bun.serve throws synchronously
 * with `code` EADDRINUSE, EACCES or EADDRNOTAVAIL (DESIGN.md).
 */
import { GotunnelError } from "../core/errors.ts";
import { findPortHolder } from "../platform/port-holder.ts";

/** Ports below 1024 need privileges on Linux and macOS before 10.14 (ip_unprivileged_port_start defaults to 1024). */
const FIRST_UNPRIVILEGED_PORT = 1024;

/** Where a suggested port starts: the usual unprivileged stand-ins for 443 and 80. */
const ALTERNATIVE_FROM = { https: 8443, http: 8080 } as const;
/** How many ports after it are tried before suggesting 0 (any free port). */
const ALTERNATIVES_TRIED = 100;

function flagFor(proto: "http" | "https"): string {
  return proto === "https" ? "--proxy-https-port" : "--proxy-http-port";
}

/** True when nobody holds `port` on `host` right now: a plain bind (no SO_REUSEPORT) succeeds. */
function freeNow(host: string, port: number): boolean {
  try {
    Bun.listen({ hostname: host, port, socket: { data() {} } }).stop(true);
    return true;
  } catch {
    return false; // In use, or not ours to bind: either way not a port to suggest.
  }
}

/**
 * The port to suggest instead of `busy`: the first one from 8443 (HTTPS) or 8080 (HTTP) that is free at this moment,
 * so the hint never names the port that just failed (or another one in use). 0 (any free port) if none is.
 */
export function freeAlternative(host: string, proto: "http" | "https", busy: number): number {
  const from = ALTERNATIVE_FROM[proto];
  for (let port = from; port < from + ALTERNATIVES_TRIED; port++) {
    if (port !== busy && freeNow(host, port)) return port;
  }
  return 0;
}

export function bindError(error: unknown, host: string, port: number, proto: "http" | "https"): Error {
  const code = (error as { code?: string }).code;
  const flag = flagFor(proto);
  const alternative = () => freeAlternative(host, proto, port);
  if (code === "EADDRINUSE") {
    const holder = findPortHolder(port);
    const who = holder ? ` by pid ${holder.pid} (${holder.command})` : "";
    return new GotunnelError("E_PORT_IN_USE", `port ${port} (${proto.toUpperCase()}) on ${host} is in use${who}`, {
      hint: `stop ${holder ? holder.command : "the program using it"}, or run with \`${flag} ${alternative()}\` (free now)`,
      details: { port, host, proto, holder },
      cause: error,
    });
  }
  if (code === "EACCES" || (code === undefined && port < FIRST_UNPRIVILEGED_PORT && port !== 0)) {
    return new GotunnelError(
      "E_PORT_PRIVILEGED",
      `port ${port} (${proto.toUpperCase()}) needs root privileges to bind`,
      {
        hint:
          process.platform === "linux"
            ? `run with sudo, or allow the binary once: \`sudo setcap cap_net_bind_service=+ep "$(command -v gotunnel)"\`, or use \`${flag} ${alternative()}\``
            : `run with sudo, or use \`${flag} ${alternative()}\``,
        details: { port, host, proto },
        cause: error,
      },
    );
  }
  if (code === "EADDRNOTAVAIL") {
    return new GotunnelError("E_ADDR_NOT_AVAILABLE", `cannot listen on ${host}:${port}: no such local address`, {
      hint: "set proxy.host to an address of this machine, e.g. 127.0.0.1",
      details: { port, host, proto },
      cause: error,
    });
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** Both listeners bind with reusePort, so one shared port would bind twice silently and split TLS from plain HTTP. */
export function assertDistinctPorts(httpsPort: number, httpPort: number | null): void {
  if (httpPort === null || httpPort === 0 || httpPort !== httpsPort) return;
  throw new GotunnelError("E_PORT_IN_USE", `the HTTP and HTTPS listeners cannot share port ${httpsPort}`, {
    hint: "give them different ports, e.g. `--proxy-http-port 8080 --proxy-https-port 8443`",
    details: { port: httpsPort },
  });
}

/**
 * Binds the port briefly WITHOUT SO_REUSEPORT: the kernel refuses that while anyone else holds it, including another
 * gotunnel that bound with reusePort. Port 0 needs no check.
 */
export async function probeExclusive(host: string, port: number, proto: "http" | "https"): Promise<void> {
  if (port === 0) return;
  let probe: { stop(closeActiveConnections?: boolean): void } | undefined;
  try {
    probe = Bun.listen({ hostname: host, port, socket: { data() {} } });
  } catch (error) {
    throw bindError(error, host, port, proto);
  } finally {
    probe?.stop(true);
  }
}

/** This machine has no such address (IPv6 turned off: EADDRNOTAVAIL), or no IPv6 at all (EAFNOSUPPORT). */
const NO_ADDRESS_CODES = new Set(["EADDRNOTAVAIL", "EAFNOSUPPORT"]);

/** Whether `host` can be listened on here at all, e.g. ::1 on a machine or container with IPv6 turned off. */
export function addressAvailable(host: string): boolean {
  try {
    Bun.listen({ hostname: host, port: 0, socket: { data() {} } }).stop(true);
    return true;
  } catch (error) {
    if (NO_ADDRESS_CODES.has((error as { code?: string }).code ?? "")) return false;
    throw error;
  }
}
