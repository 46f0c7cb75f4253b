/**
 * What the daemon shows, and to whom, through the compiled binary. The admin port answers only a loopback Host
 * (127.0.0.1, [::1], localhost, any port), so a web page that rebinds its own name to 127.0.0.1 gets a 403, while
 * the control socket (a unix socket no browser can open) answers whatever the Host says. The proxy's 404 page lists
 * the routes and their upstreams only to a loopback client naming a host no web site can point here; a rebinding
 * page, and a client on another machine (a second network namespace, tests/helpers/netns.ts), get a plain 404.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { E2EScope, requireBinary, run, runGotunnel, startEchoRoute } from "../helpers/e2e.ts";
import { lanClient, startLanDaemon } from "../helpers/lan-client.ts";
import type { startEchoUpstream } from "../helpers/upstreams.ts";

const scope = new E2EScope();
afterAll(() => scope.dispose());

let home: string;
let adminPort: number;
let httpPort: number;
let upstream: ReturnType<typeof startEchoUpstream>;

beforeAll(async () => {
  requireBinary();
  ({ home, upstream } = await startEchoRoute(scope, "shown", {}));
  const status = await runGotunnel(["status", "--json"], { cwd: home, home });
  const parsed = JSON.parse(status.stdout) as { admin: { port: number }; ports: { http: number } };
  adminPort = parsed.admin.port;
  httpPort = parsed.ports.http;
});

/** curl's body and status, with `argv` before the URL. */
async function get(argv: string[], url: string) {
  const result = await run(["curl", "-sS", ...argv, "-w", "\n%{http_code}", url]);
  const at = result.stdout.lastIndexOf("\n");
  return { status: Number(result.stdout.slice(at + 1)), body: result.stdout.slice(0, at) };
}

/**
 * curl to the admin port with exactly this Host header. `null`: none at all, over HTTP/1.0, where a Host is optional
 * (Bun answers an HTTP/1.1 request without one with its own 400, as RFC 9112 §3.2 requires).
 */
function admin(path: string, host: string | null) {
  const header = host === null ? ["-0", "-H", "Host:"] : ["-H", `Host: ${host}`];
  return get(header, `http://127.0.0.1:${adminPort}${path}`);
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

describe("the 404 page", () => {
  const notFound = (host: string, accept = "*/*") =>
    get(["-H", `Host: ${host}`, "-H", `Accept: ${accept}`], `http://127.0.0.1:${httpPort}/`);

  test("a loopback client naming a host only this machine resolves sees every route and its upstream", async () => {
    for (const host of [`nothing.localhost:${httpPort}`, `127.0.0.1:${httpPort}`, "gone.local"]) {
      const page = await notFound(host);
      expect(page.status).toBe(404);
      expect(page.body).toContain("Routes served here:");
      expect(page.body).toContain(`shown.local:`);
      expect(page.body).toContain(`→ http://localhost:${upstream.port}`);
    }
  });

  test("a loopback client naming any other host (a page that rebound its name) gets a plain 404", async () => {
    for (const accept of ["*/*", "text/html"]) {
      const page = await notFound(`evil.example:${httpPort}`, accept);
      expect(page.status).toBe(404);
      expect(page.body).toContain("No gotunnel route for");
      expect(page.body).toContain("gotunnel list");
      for (const hidden of ["shown.local", String(upstream.port), "Routes served"])
        expect(page.body).not.toContain(hidden);
    }
  });
});

describe.skipIf(lanClient.skip)(lanClient.title("the 404 and 502 pages to another machine"), () => {
  test("a LAN client gets a plain 404, while a loopback client of the same daemon gets the list", async () => {
    const { pair, ready, inA, inB } = await startLanDaemon(scope, ["-d", "web.localhost", "-p", "39999"]);
    const port = ready.ports.http;
    const curl = ["curl", "-sS", "-H", "Host: nothing.localhost", "-w", "\n%{http_code}"];

    const lan = await inB([...curl, `http://${pair.a.v4}:${port}/`]);
    expect(lan.stdout).toEndWith("\n404");
    expect(lan.stdout).toContain("No gotunnel route for");
    for (const hidden of ["web.localhost", "39999", "Routes served"]) expect(lan.stdout).not.toContain(hidden);

    const local = await inA([...curl, `http://127.0.0.1:${port}/`]);
    expect(local.stdout).toEndWith("\n404");
    expect(local.stdout).toContain("web.localhost");
    expect(local.stdout).toContain("→ http://localhost:39999");
  });

  test("a LAN client of a shared route whose dev server is down gets a 502 that does not name the upstream", async () => {
    // Plain HTTP, so the LAN client needs no CA; nothing listens on 39998.
    const { pair, ready, inA, inB } = await startLanDaemon(scope, ["-d", "shared.local", "-p", "39998", "--no-https"]);
    const port = ready.ports.http;
    const curl = ["curl", "-sS", "-H", "Host: shared.local", "-w", "\n%{http_code}"];

    const lan = await inB([...curl, `http://${pair.a.v4}:${port}/`]);
    expect(lan.stdout).toEndWith("\n502");
    expect(lan.stdout).toContain("the dev server is not answering");
    for (const hidden of ["39998", "localhost:", "127.0.0.1"]) expect(lan.stdout).not.toContain(hidden);

    const local = await inA([...curl, `http://127.0.0.1:${port}/`]);
    expect(local.stdout).toEndWith("\n502");
    expect(local.stdout).toContain("http://localhost:39998");
  });
});
