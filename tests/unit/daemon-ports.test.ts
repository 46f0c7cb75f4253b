import { describe, expect, test } from "bun:test";
import type { StatusResponse } from "../../src/daemon/control/protocol.ts";
import { assertPorts } from "../../src/daemon/spawn.ts";

const status = { pid: 4242, ports: { https: 8443, http: 8080 } } as StatusResponse;
const proxy = (httpsPort: number, httpPort: number) => ({ host: "127.0.0.1", httpsPort, httpPort });

describe("a command's ports against the running daemon's", () => {
  test("the same ports, 0 (any) and the defaults (not chosen) all use the running daemon", () => {
    expect(() => assertPorts(status, proxy(8443, 8080))).not.toThrow();
    expect(() => assertPorts(status, proxy(0, 0))).not.toThrow();
    expect(() => assertPorts(status, proxy(443, 80))).not.toThrow();
  });

  test("other ports are an error naming the daemon's ports and how to restart it", () => {
    expect(() => assertPorts(status, proxy(9443, 0))).toThrow(
      "the running daemon (pid 4242) listens on HTTPS 8443 and HTTP 8080, not HTTPS 9443",
    );
    expect(() => assertPorts(status, proxy(0, 9080))).toThrow("not HTTP 9080");
  });
});
