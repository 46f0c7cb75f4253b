/**
 * The dashboard through the compiled binary: `gotunnel dashboard` says where it is, the daemon serves it at
 * https://gotunnel.localhost with a certificate for that name and a strict Content-Security-Policy, the live list
 * and the detail show a request made with curl, and a change (stop a route, capture, replay) is refused with 403,
 * changing nothing, unless it carries the page's token and the dashboard's own Origin. A client on another machine
 * (a second network namespace) is refused whatever it sends.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { curl, E2EScope, headerValues, requireBinary, run, runGotunnel, startEchoRoute } from "../helpers/e2e.ts";
import { lanClient, startLanDaemon } from "../helpers/lan-client.ts";

const scope = new E2EScope();
afterAll(() => scope.dispose());

const NAME = "dash-app.local";
let home: string;
let ca: string;
let routeUrl: string;
let origin: string;

beforeAll(async () => {
  requireBinary();
  ({ home, ca, url: routeUrl } = await startEchoRoute(scope, NAME, {}));
  const answer = await runGotunnel(["dashboard", "--json"], { cwd: home, home });
  expect(answer.exitCode).toBe(0);
  origin = new URL((JSON.parse(answer.stdout) as { url: string }).url).origin;
}, 60_000);

const dashboard = (path: string, args: string[] = []) => curl(`${origin}${path}`, { ca, args });
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const json = <T>(bytes: Uint8Array) => JSON.parse(text(bytes)) as T;

async function pageToken(): Promise<string> {
  const page = await dashboard("/");
  const token = /<meta name="gotunnel-token" content="([^"]+)">/.exec(text(page.body))?.[1];
  if (!token) throw new Error(`no token in the page: ${text(page.body).slice(0, 300)}`);
  return token;
}

/** A POST to the dashboard with exactly these extra headers. */
const post = (path: string, headers: Record<string, string>, body = "{}") =>
  dashboard(path, ["-X", "POST", "-d", body, ...Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`])]);

async function routeNames(): Promise<string[]> {
  const list = await runGotunnel(["list", "--json"], { cwd: home, home });
  return (JSON.parse(list.stdout) as { routes: { name: string }[] }).routes.map((route) => route.name);
}

interface Summary {
  id: number;
  method: string;
  path: string;
  status: number;
  route?: string;
  size?: number;
  captured: boolean;
  replayOf?: number;
}

async function loggedRequest(path: string, replayOf?: number): Promise<Summary | undefined> {
  const found = async () => {
    const { requests } = json<{ requests: Summary[] }>((await dashboard("/api/requests")).body);
    return requests.find((request) => request.path === path && request.replayOf === replayOf);
  };
  let last: Summary | undefined;
  for (let tries = 0; tries < 100 && !last; tries++) {
    last = await found();
    if (!last) await Bun.sleep(50);
  }
  return last;
}

describe("gotunnel dashboard", () => {
  test("--json prints the URL: gotunnel.localhost on the proxy's HTTPS port", async () => {
    const port = new URL(routeUrl).port;
    expect(origin).toBe(`https://gotunnel.localhost:${port}`);
  });

  test("without a terminal it prints the URL instead of opening a browser", async () => {
    const answer = await runGotunnel(["dashboard"], { cwd: home, home, env: { DISPLAY: ":0" } });
    expect(answer.exitCode).toBe(0);
    expect(answer.stdout.trim()).toBe(`${origin}/`);
  });
});

describe("the page", () => {
  test("is served over HTTPS for gotunnel.localhost, with a certificate for that name", async () => {
    // curl checks the name against the certificate (no --insecure): a default certificate would fail here.
    const page = await dashboard("/");
    expect(page.exitCode).toBe(0);
    expect(page.status).toBe(200);
    expect(text(page.body)).toContain("<title>gotunnel dashboard</title>");
    const subject = await run([
      "sh",
      "-c",
      `openssl s_client -connect 127.0.0.1:${new URL(origin).port} -servername gotunnel.localhost </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName`,
    ]);
    expect(subject.stdout).toContain("DNS:gotunnel.localhost");
  });

  test("carries a strict Content-Security-Policy and may not be framed", async () => {
    for (const path of ["/", "/app.js", "/app.css", "/api/state"]) {
      const answer = await dashboard(path);
      expect(answer.status).toBe(200);
      const [csp] = headerValues(answer, "content-security-policy");
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain("unsafe-inline");
      expect(headerValues(answer, "x-frame-options")).toEqual(["DENY"]);
    }
    const page = text((await dashboard("/")).body);
    // No inline script: every <script> has a src on the same origin.
    expect(page.match(/<script[^>]*>/g)).toEqual(['<script type="module" src="/app.js">']);
    expect(page).not.toMatch(/https?:\/\//);
  });

  test("a plain-HTTP request for the name is redirected to HTTPS", async () => {
    const status = json<{ ports: { http: number; https: number } }>((await dashboard("/api/state")).body);
    const answer = await curl(`http://gotunnel.localhost:${status.ports.http}/`);
    expect(answer.status).toBe(308);
    expect(headerValues(answer, "location")).toEqual([`${origin}/`]);
  });

  test("any other Host on the same listener is not the dashboard", async () => {
    const answer = await dashboard("/api/state", ["-H", "Host: evil.example"]);
    expect(answer.status).not.toBe(200);
    expect(text(answer.body)).not.toContain('"routes"');
  });
});

describe("routes and requests", () => {
  test("the route list shows the route, its target, owner, status and certificate expiry", async () => {
    await curl(`${routeUrl}/warm`, { ca });
    const state = json<{ routes: Record<string, unknown>[] }>((await dashboard("/api/state")).body);
    const route = state.routes.find((row) => row.name === NAME);
    expect(route).toMatchObject({ name: NAME, url: routeUrl, status: "serving", session: false, capture: false });
    expect(String(route?.target)).toStartWith("http://localhost:");
    expect(String(route?.owner)).toStartWith("command in ");
    expect(Number(route?.requests)).toBeGreaterThanOrEqual(1);
    expect(Date.parse(String(route?.certificateExpires))).toBeGreaterThan(Date.now());
  });

  test("a request made with curl is in the list and its detail shows both sides' headers", async () => {
    const made = await curl(`${routeUrl}/seen-by-dashboard?x=1`, { ca, args: ["-H", "X-Probe: dashboard-e2e"] });
    expect(made.status).toBe(200);
    const summary = await loggedRequest("/seen-by-dashboard?x=1");
    expect(summary).toMatchObject({ method: "GET", status: 200, route: NAME, captured: false });
    expect(summary?.size).toBe(made.body.byteLength);
    const detail = json<{ requestHeaders: [string, string][]; responseHeaders: [string, string][]; curl: string }>(
      (await dashboard(`/api/requests/${summary?.id}`)).body,
    );
    expect(detail.requestHeaders).toContainEqual(["x-probe", "dashboard-e2e"]);
    expect(detail.responseHeaders).toContainEqual(["x-upstream", "127.0.0.1"]);
    expect(detail.curl).toContain("-H 'x-probe: dashboard-e2e'");
  });

  test("the event stream carries a new request as it happens", async () => {
    const events = Bun.spawn(["curl", "-sSN", "--cacert", ca, "--max-time", "20", `${origin}/api/events`], {
      stdout: "pipe",
      stderr: "pipe",
    });
    scope.defer(() => events.kill());
    const reader = events.stdout.getReader();
    const decoder = new TextDecoder();
    let seen = "";
    // The stream answers with a comment at once; the request goes after it, so the stream was open for it.
    while (!seen.includes(": gotunnel")) seen += decoder.decode((await reader.read()).value ?? new Uint8Array());
    await curl(`${routeUrl}/live-one`, { ca });
    while (!seen.includes('"path":"/live-one"')) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += decoder.decode(value);
    }
    events.kill();
    expect(seen).toContain("event: request");
    expect(seen).toContain('"path":"/live-one"');
  });
});

describe("changes need the page's token and the dashboard's Origin", () => {
  test("a cross-site POST, or one without the token, is refused with 403 and changes nothing", async () => {
    const token = await pageToken();
    const refused: Record<string, string>[] = [
      { Origin: "https://evil.example", "X-Gotunnel-Token": token },
      { Origin: origin },
      { "X-Gotunnel-Token": token },
      { Origin: origin, "X-Gotunnel-Token": `${token}x` },
      { Origin: "null", "X-Gotunnel-Token": token },
      { Origin: origin.replace("https:", "http:"), "X-Gotunnel-Token": token },
    ];
    for (const headers of refused) {
      for (const path of [`/api/routes/${NAME}/stop`, `/api/routes/${NAME}/capture`]) {
        const answer = await post(path, headers, '{"on":true}');
        expect({ headers, status: answer.status, err: answer.stderr }).toEqual({ headers, status: 403, err: "" });
      }
    }
    expect(await routeNames()).toContain(NAME);
    expect((await curl(`${routeUrl}/still-there`, { ca })).status).toBe(200);
    const state = json<{ routes: { name: string; capture: boolean }[] }>((await dashboard("/api/state")).body);
    expect(state.routes.find((route) => route.name === NAME)?.capture).toBe(false);
  });

  test("with both, capture keeps bodies and replay sends the request again through the route", async () => {
    const headers = { Origin: origin, "X-Gotunnel-Token": await pageToken() };
    expect((await post(`/api/routes/${NAME}/capture`, headers, '{"on":true}')).status).toBe(200);
    const made = await curl(`${routeUrl}/captured`, { ca, args: ["-X", "POST", "--data-binary", "ping=1"] });
    expect(made.status).toBe(200);
    const original = await loggedRequest("/captured");
    expect(original?.captured).toBe(true);
    const detail = json<{ capture: { request: { text: string }; response: { text: string } } }>(
      (await dashboard(`/api/requests/${original?.id}`)).body,
    );
    expect(detail.capture.request.text).toBe("ping=1");
    expect(JSON.parse(detail.capture.response.text)).toMatchObject({ method: "POST", body: "ping=1" });
    const replayed = await post(`/api/requests/${original?.id}/replay`, headers);
    expect(replayed.status).toBe(200);
    expect(json<{ status: number }>(replayed.body).status).toBe(200);
    const replay = await loggedRequest("/captured", original?.id);
    expect(replay).toMatchObject({ method: "POST", status: 200, replayOf: original?.id });
  });

  test("with both, stop removes the route", async () => {
    const headers = { Origin: origin, "X-Gotunnel-Token": await pageToken() };
    const answer = await post(`/api/routes/${NAME}/stop`, headers);
    expect(answer.status).toBe(200);
    expect(await routeNames()).not.toContain(NAME);
  });
});

describe("stopping the daemon", () => {
  test("ends an open event stream cleanly instead of cutting it after the shutdown grace", async () => {
    const own = await startEchoRoute(scope, "dash-stop.local", {});
    const answer = await runGotunnel(["dashboard", "--json"], { cwd: own.home, home: own.home });
    const url = (JSON.parse(answer.stdout) as { url: string }).url;
    const events = Bun.spawn(["curl", "-sSN", "--cacert", own.ca, "--max-time", "60", `${url}api/events`], {
      stdout: "pipe",
      stderr: "pipe",
    });
    scope.defer(() => events.kill());
    const reader = events.stdout.getReader();
    let seen = "";
    while (!seen.includes(": gotunnel")) seen += new TextDecoder().decode((await reader.read()).value);
    reader.releaseLock();
    const stopped = await runGotunnel(["daemon", "stop"], { cwd: own.home, home: own.home });
    expect(stopped.exitCode).toBe(0);
    // curl exits 0 for a stream the server ended, and 18 or 92 for one cut mid-way (a forced close).
    const [code, stderr] = await Promise.all([events.exited, new Response(events.stderr).text()]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
  }, 60_000);
});

describe.skipIf(lanClient.skip)(lanClient.title("another machine"), () => {
  test("is refused with 403 even with the right name, while this machine's client is served", async () => {
    const { pair, ready, inA, inB } = await startLanDaemon(scope, ["-d", "lan-dash.local", "-p", "39997"]);
    const port = ready.ports.https;
    const curlTo = (address: string) => [
      "curl",
      "-sS",
      "--cacert",
      ready.ca.path,
      "--connect-to",
      `gotunnel.localhost:${port}:${address}:${port}`,
      "-w",
      "\n%{http_code}",
      `https://gotunnel.localhost:${port}/`,
    ];
    const lan = await inB(curlTo(pair.a.v4));
    expect(lan.stdout).toEndWith("\n403");
    expect(lan.stdout).not.toContain("gotunnel-token");
    const local = await inA(curlTo("127.0.0.1"));
    expect(local.stdout).toEndWith("\n200");
    expect(local.stdout).toContain("gotunnel-token");
  }, 60_000);
});
