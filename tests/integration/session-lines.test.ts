/**
 * What the daemon sends an `up` session for each request (service.ts sessionLine): the protocol's fields, the path
 * redacted, and nothing else. The request event also carries the request's and response's Headers (for the
 * dashboard) and a capture's bodies; Bun's JSON.stringify writes a Headers' fields, so a spread of the event sent the
 * client's Cookie and Authorization, the answer's Set-Cookie and captured bodies to the `up` process with every line.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RequestEventLine } from "../../src/daemon/control/protocol.ts";
import { RouteTable } from "../../src/daemon/routes.ts";
import { DaemonService } from "../../src/daemon/service.ts";
import type { RequestEvent } from "../../src/proxy/server.ts";
import { stubGateway } from "../helpers/stub-gateway.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "gotunnel-session-lines-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const target = { protocol: "http:" as const, hostname: "127.0.0.1", port: 1, origin: "http://127.0.0.1:1" };

async function sessionService() {
  const service = new DaemonService({
    gateway: stubGateway(),
    table: new RouteTable([]),
    stateFile: join(dir, "routes.json"),
    hostsFile: join(dir, "hosts"),
    log: () => undefined,
  });
  const request = {
    routes: [{ name: "app.test", wildcard: false, target, https: true, headers: {}, preserveHost: true }],
    owner: { kind: "command" as const, cwd: "/work" },
    persistent: false,
    force: false,
  };
  await service.add(request, "session-1");
  const wire: string[] = [];
  // As the control server writes them: one JSON text per line (control/batch.ts).
  service.listen("session-1", (line: RequestEventLine) => wire.push(JSON.stringify(line)));
  return { service, wire };
}

function event(overrides: Partial<RequestEvent>): RequestEvent {
  return {
    method: "POST",
    host: "app.test",
    path: "/login?next=/home&access_token=t0ken-value",
    status: 200,
    durationMs: 1.5,
    route: "app.test",
    error: undefined,
    traceparent: "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01",
    requestHeaders: new Headers({ cookie: "sid=c00kie-value", authorization: "Bearer b3arer-value" }),
    responseHeaders: new Headers({ "set-cookie": "sid=new-c00kie; HttpOnly" }),
    responseLength: "12",
    capture: { request: { text: "password=b0dy-value" }, response: undefined } as unknown as RequestEvent["capture"],
    ...overrides,
  };
}

test("a request line holds the protocol's fields only: no headers, no capture, no trace ids, the path redacted", async () => {
  const { service, wire } = await sessionService();
  service.onRequest(event({}));
  expect(wire).toHaveLength(1);
  expect(JSON.parse(wire[0] ?? "{}")).toEqual({
    event: "request",
    method: "POST",
    host: "app.test",
    path: "/login?next=/home&access_token=REDACTED",
    status: 200,
    durationMs: 1.5,
    route: "app.test",
  });
  for (const secret of ["c00kie-value", "b3arer-value", "new-c00kie", "b0dy-value", "t0ken-value", "0123456789abcdef"])
    expect(wire[0]).not.toContain(secret);
});

test("an upstream failure reaches the session as its message", async () => {
  const { service, wire } = await sessionService();
  service.onRequest(event({ status: 502, error: new Error("connect ECONNREFUSED 127.0.0.1:1") }));
  service.onRequest(event({ status: 502, error: "a plain string" }));
  expect(wire.map((line) => (JSON.parse(line) as RequestEventLine).error)).toEqual([
    "connect ECONNREFUSED 127.0.0.1:1",
    "a plain string",
  ]);
});
