/**
 * What the daemon shows, and to whom, through the compiled binary. The admin port answers only a loopback Host
 * (127.0.0.1, [::1], localhost, any port), so a web page that rebinds its own name to 127.0.0.1 gets a 403, while
 * the control socket (a unix socket no browser can open) answers whatever the Host says.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { E2EScope, requireBinary, run, runGotunnel, startEchoRoute } from "../helpers/e2e.ts";

const scope = new E2EScope();
afterAll(() => scope.dispose());

let home: string;
let adminPort: number;

beforeAll(async () => {
  requireBinary();
  ({ home } = await startEchoRoute(scope, "shown", {}));
  const status = await runGotunnel(["status", "--json"], { cwd: home, home });
  adminPort = (JSON.parse(status.stdout) as { admin: { port: number } }).admin.port;
});

/**
 * curl to the admin port with exactly this Host header. `null`: none at all, over HTTP/1.0, where a Host is optional
 * (Bun answers an HTTP/1.1 request without one with its own 400, as RFC 9112 §3.2 requires).
 */
async function admin(path: string, host: string | null) {
  const header = host === null ? ["-0", "-H", "Host:"] : ["-H", `Host: ${host}`];
  const url = `http://127.0.0.1:${adminPort}${path}`;
  const result = await run(["curl", "-sS", ...header, "-w", "\n%{http_code}", url]);
  const at = result.stdout.lastIndexOf("\n");
  return { status: Number(result.stdout.slice(at + 1)), body: result.stdout.slice(0, at) };
}

describe("the admin port", () => {
  test.each(["127.0.0.1", "localhost", "[::1]"])("answers Host %s, with or without a port", async (name) => {
    for (const host of [name, `${name}:${adminPort}`]) {
      const answer = await admin("/debug/config", host);
      expect(answer.status).toBe(200);
      expect(answer.body).toContain('"paths"');
    }
  });

  test.each(["evil.example", "evil.example:80", "127.0.0.1.nip.io", "localhost.evil.example"])(
    "refuses Host %s with a 403 that says why, on every path",
    async (host) => {
      for (const path of ["/debug/config", "/metrics", "/health/ready", "/version", "/nowhere"]) {
        const answer = await admin(path, host);
        expect(answer.status).toBe(403);
        const body = JSON.parse(answer.body) as { error: { code: string; message: string } };
        expect(body.error.code).toBe("E_HOST_NOT_ALLOWED");
        expect(body.error.message).toBe(`host not allowed: "${host}"; use 127.0.0.1, [::1] or localhost`);
        expect(answer.body).not.toContain("paths");
      }
    },
  );

  test("refuses an HTTP/1.0 request without a Host header", async () => {
    const answer = await admin("/metrics", null);
    expect(answer.status).toBe(403);
    expect(answer.body).not.toContain("gotunnel_");
  });

  test("the control socket answers the same paths whatever the Host: only its owner can open it", async () => {
    const socket = join(home, "run", "control.sock");
    const config = await fetch("http://evil.example/debug/config", { unix: socket });
    expect(config.status).toBe(200);
  });
});
