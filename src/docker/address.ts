/**
 * Where the container engine's API listens. `DOCKER_HOST` as the docker CLI reads it (unix:///path, tcp://host:port;
 * https://docs.docker.com/reference/cli/docker/#environment-variables) wins; without it, the first of the usual
 * sockets that exists: Docker's, rootless Docker's, rootless Podman's, rootful Podman's (whose API service speaks the
 * same Docker Engine API: https://docs.podman.io/en/latest/markdown/podman-system-service.1.html). When none exists
 * yet, Docker's: discovery waits for it to appear.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

export const DOCKER_HOST_ENV = "DOCKER_HOST";
const DOCKER_TLS_VERIFY_ENV = "DOCKER_TLS_VERIFY";
export const DOCKER_SOCKET = "/var/run/docker.sock";
const PODMAN_ROOTFUL_SOCKET = "/run/podman/podman.sock";
/** Docker's unencrypted TCP port, the CLI's default for a tcp:// address without one. */
const DOCKER_TCP_PORT = 2375;

export type EngineAddress =
  | { kind: "unix"; path: string; text: string }
  | { kind: "tcp"; host: string; port: number; text: string };

/** An address, or why DOCKER_HOST cannot be used (ssh://, npipe://, a typo). */
export type AddressChoice = EngineAddress | { error: string };

export function engineAddress(
  env: Record<string, string | undefined>,
  exists: (path: string) => boolean = existsSync,
): AddressChoice {
  const host = env[DOCKER_HOST_ENV]?.trim();
  if (host) {
    const parsed = parseDockerHost(host);
    // The docker CLI then speaks TLS with client certificates (DOCKER_CERT_PATH), which gotunnel does not.
    const tls = env[DOCKER_TLS_VERIFY_ENV];
    if ("kind" in parsed && parsed.kind === "tcp" && tls !== undefined && tls !== "" && tls !== "0") {
      return {
        error: `${DOCKER_TLS_VERIFY_ENV} is set: gotunnel reaches ${parsed.text} over plain HTTP only (TLS engines are not supported)`,
      };
    }
    return parsed;
  }
  const runtime = env.XDG_RUNTIME_DIR;
  const candidates = [
    DOCKER_SOCKET,
    ...(runtime ? [join(runtime, "docker.sock"), join(runtime, "podman", "podman.sock")] : []),
    PODMAN_ROOTFUL_SOCKET,
  ];
  const path = candidates.find((candidate) => exists(candidate)) ?? DOCKER_SOCKET;
  return { kind: "unix", path, text: `unix://${path}` };
}

export function parseDockerHost(value: string): AddressChoice {
  const unsupported = (why: string) => ({
    error: `${DOCKER_HOST_ENV}=${value} ${why}: use unix:///path/to/docker.sock or tcp://host:port`,
  });
  if (value.startsWith("unix://")) {
    const path = value.slice("unix://".length);
    if (!path.startsWith("/")) return unsupported("has no absolute socket path");
    return { kind: "unix", path, text: value };
  }
  if (!value.startsWith("tcp://")) return unsupported("is not supported by gotunnel");
  let url: URL;
  try {
    url = new URL(`http://${value.slice("tcp://".length)}`);
  } catch {
    return unsupported("is not a valid address");
  }
  if (url.pathname !== "/" || url.search !== "" || url.username !== "") return unsupported("has more than host:port");
  const port = url.port === "" ? DOCKER_TCP_PORT : Number(url.port);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return { kind: "tcp", host: hostname, port, text: `tcp://${url.host}` };
}
