/**
 * Webhooks from the compiled daemon to a real receiver (Bun.serve on loopback) that checks each signature the way
 * docs/webhooks.md tells users to: route.up answered 500 then 200 (retried with the same signed body), upstream.down
 * and upstream.up from the daemon's probes of a real upstream stopped and restarted, route.down to a webhook that asked
 * only for it, the delivery log in `gotunnel logs --webhooks` and /metrics; a receiver that never answers holds up no
 * request and no stop; certificate.expiring for a CA 10 days from its end.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createHmac, timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import type { Server } from "bun";
import { curl, E2EScope, freePort, requireBinary, runGotunnel, until } from "../helpers/e2e.ts";

const scope = new E2EScope();
afterAll(() => scope.dispose());

const PORTS = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };
const SECRET_A = "a-secret-of-32-characters-long!!";
const SECRET_B = "another-secret-0123456789";
/** The upstream probe runs every 5 s (webhooks/events.ts); a state change is seen within about that. */
const PROBE_WAIT_MS = 15_000;

interface Received {
  path: string;
  headers: Headers;
  body: string;
  json: Record<string, unknown>;
  /** Checked as docs/webhooks.md says: HMAC-SHA256 of the raw body, compared in constant time. */
  signed: boolean;
}

/** Verifies like a user's receiver would: recompute over the exact bytes received, compare in constant time. */
function verify(secret: string, body: string, header: string | null): boolean {
  const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(body).digest("hex")}`);
  const given = Buffer.from(header ?? "");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A receiver for `secrets` by path; `answer` decides each status (or never answers, when it returns undefined). */
function receiver(secrets: Record<string, string>, answer: (got: Received, seen: Received[]) => number | undefined) {
  const seen: Received[] = [];
  const server: Server<undefined> = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const path = new URL(request.url).pathname;
      const body = await request.text();
      const signed = verify(secrets[path] ?? "", body, request.headers.get("x-gotunnel-signature"));
      const got = { path, headers: request.headers, body, json: JSON.parse(body), signed };
      seen.push(got);
      const status = answer(got, seen);
      return status === undefined ? new Promise<Response>(() => undefined) : new Response(null, { status });
    },
  });
  scope.defer(() => server.stop(true));
  return { url: (path: string) => `http://127.0.0.1:${server.port}${path}`, seen };
}

function upstreamOn(port: number): Server<undefined> {
  return Bun.serve({ hostname: "127.0.0.1", port, fetch: () => new Response("ok") });
}

describe("webhooks", () => {
  test("signed events, a 500 retried then delivered, probes, event filters, the delivery log and metrics", async () => {
    requireBinary();
    const hooks = receiver({ "/a": SECRET_A, "/b": SECRET_B }, (got, seen) => {
      const earlier = seen.filter((item) => item.json.id === got.json.id).length;
      return got.json.event === "route.up" && earlier === 1 ? 500 : 200;
    });
    const port = await freePort();
    let upstream = upstreamOn(port);
    scope.defer(() => upstream.stop(true));
    const config = {
      routes: { "hook.local": port },
      notify: [
        { url: hooks.url("/a"), secret: SECRET_A },
        { url: hooks.url("/b"), secret: SECRET_B, events: ["route.down"] },
      ],
    };
    const dir = scope.project({ "gotunnel.config.json": JSON.stringify(config) });
    const home = scope.dir("home");
    const up = await scope.up(dir, home);
    const routeUrl = up.ready.routes[0]?.url ?? "";

    const delivered = await until(() =>
      hooks.seen.filter((got) => got.json.event === "route.up").length >= 2 ? true : undefined,
    );
    expect(delivered).toBe(true);
    const [first, second] = hooks.seen.filter((got) => got.json.event === "route.up");
    // The same delivery twice: the same id and bytes (so the same signature), attempt 1 then 2; both verify.
    expect(second?.body).toBe(first?.body);
    expect([first?.headers.get("x-gotunnel-attempt"), second?.headers.get("x-gotunnel-attempt")]).toEqual(["1", "2"]);
    expect([first?.signed, second?.signed]).toEqual([true, true]);
    expect(first?.path).toBe("/a");
    expect(first?.headers.get("x-gotunnel-event")).toBe("route.up");
    expect(first?.headers.get("content-type")).toBe("application/json");
    expect(first?.headers.get("x-gotunnel-delivery")).toBe(first?.json.id as string);
    expect(first?.json).toEqual({
      id: expect.any(String),
      event: "route.up",
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      daemon: { pid: expect.any(Number), version: expect.any(String) },
      route: { name: "hook.local", url: routeUrl, target: `http://localhost:${port}` },
      reason: "added",
    });
    // A body changed in transit (or signed with another secret) does not verify.
    expect(
      verify(
        SECRET_A,
        first?.body.replace("hook.local", "evil.local") ?? "",
        first?.headers.get("x-gotunnel-signature") ?? null,
      ),
    ).toBe(false);
    expect(verify(SECRET_B, first?.body ?? "", first?.headers.get("x-gotunnel-signature") ?? null)).toBe(false);

    upstream.stop(true);
    const down = await until(() => hooks.seen.find((got) => got.json.event === "upstream.down"), PROBE_WAIT_MS);
    expect(down?.json.route).toMatchObject({ name: "hook.local" });
    expect(down?.signed).toBe(true);
    upstream = upstreamOn(port);
    const back = await until(() => hooks.seen.find((got) => got.json.event === "upstream.up"), PROBE_WAIT_MS);
    expect(back?.signed).toBe(true);
    expect((await curl(routeUrl, { ca: up.caPath })).status).toBe(200);
    // /b asked only for route.down: nothing yet.
    expect(hooks.seen.filter((got) => got.path === "/b")).toEqual([]);

    expect(await up.stop("SIGINT")).toBe(0);
    const removed = await until(() => {
      const both = hooks.seen.filter((got) => got.json.event === "route.down");
      return both.length >= 2 ? both : undefined;
    });
    expect(removed?.map((got) => [got.path, got.json.reason, got.signed]).sort()).toEqual([
      ["/a", "removed", true],
      ["/b", "removed", true],
    ]);

    const log = await runGotunnel(["logs", "--webhooks", "--json"], { cwd: home, home });
    expect(log.exitCode).toBe(0);
    const { deliveries, retried, delivered: count } = JSON.parse(log.stdout);
    const routeUp = deliveries.filter((line: { event: string }) => line.event === "route.up");
    expect(routeUp).toEqual([
      expect.objectContaining({ outcome: "retrying", attempt: 1, status: 500, retryInMs: 1000, url: hooks.url("/a") }),
      expect.objectContaining({ outcome: "delivered", attempt: 2, status: 200, id: routeUp[0].id }),
    ]);
    expect(retried).toBe(1);
    expect(count).toBe(5);
    const text = await runGotunnel(["logs", "--webhooks"], { cwd: home, home });
    expect(text.stdout).toContain("retrying HTTP 500 (attempt 1, next in 1s)");
    expect(text.stdout).toContain("delivered HTTP 200 (attempt 2)");

    const status = JSON.parse((await runGotunnel(["status", "--json"], { cwd: home, home })).stdout);
    const metrics = await (await fetch(`http://127.0.0.1:${status.admin.port}/metrics`)).text();
    expect(metrics).toContain('gotunnel_webhook_deliveries_total{outcome="delivered"} 5');
    expect(metrics).toContain('gotunnel_webhook_deliveries_total{outcome="retried"} 1');
    expect(metrics).toContain("gotunnel_webhook_queue_depth 0");
  }, 60_000);

  test("a receiver that never answers holds up no request, no route change and no daemon stop", async () => {
    const hooks = receiver({ "/hang": SECRET_A }, () => undefined);
    const port = await freePort();
    const upstream = upstreamOn(port);
    scope.defer(() => upstream.stop(true));
    const dir = scope.project({
      "gotunnel.config.json": JSON.stringify({ notify: [{ url: hooks.url("/hang"), secret: SECRET_A }] }),
    });
    const home = scope.dir("home");
    const options = { cwd: dir, home, env: PORTS };
    const started = await runGotunnel(["start", "-d", "slow", "-p", String(port), "--json"], options);
    expect(started.exitCode).toBe(0);
    const url = JSON.parse(started.stdout.split("\n")[0] ?? "{}").routes[0].url as string;
    expect(await until(() => hooks.seen.find((got) => got.json.event === "route.up"))).toBeDefined();
    // The receiver holds that delivery open; requests and route changes go on.
    const ca = join(home, "ca", "rootCA.pem");
    for (let i = 0; i < 5; i++) expect((await curl(url, { ca })).status).toBe(200);
    expect((await runGotunnel(["stop", "slow"], options)).exitCode).toBe(0);
    expect((await runGotunnel(["start", "-d", "slow", "-p", String(port)], options)).exitCode).toBe(0);
    // The stop queues route.down for the route and gives deliveries a bounded time: it completes.
    const stop = await runGotunnel(["daemon", "stop"], { ...options, timeoutMs: 25_000 });
    expect(stop.exitCode).toBe(0);
    expect(
      hooks.seen.find((got) => got.json.event === "route.down" && got.json.reason === "daemon-stopped"),
    ).toBeDefined();
  }, 60_000);

  test("certificate.expiring for a CA 10 days from its end, with its path and days left", async () => {
    const home = scope.dir("home");
    const { loadTls } = await import("../../src/tls/load.ts");
    const { loadOrCreateCA } = await loadTls();
    const { CA_VALIDITY_DAYS, DAY_MS } = await import("../../src/tls/ca.ts");
    // Made as if 10 days before the end of its validity, so it runs out 10 days from now.
    const { ca } = await loadOrCreateCA(join(home, "ca"), {
      now: new Date(Date.now() - (CA_VALIDITY_DAYS - 10) * DAY_MS),
    });
    const hooks = receiver({ "/cert": SECRET_A }, () => 204);
    const port = await freePort();
    const dir = scope.project({
      "gotunnel.config.json": JSON.stringify({
        notify: [{ url: hooks.url("/cert"), secret: SECRET_A, events: ["certificate.expiring"] }],
      }),
    });
    const started = await runGotunnel(["start", "-d", "cert", "-p", String(port)], { cwd: dir, home, env: PORTS });
    expect(started.exitCode).toBe(0);
    const event = await until(() => hooks.seen.find((got) => got.json.event === "certificate.expiring"));
    expect(event?.signed).toBe(true);
    expect(event?.json.certificate).toEqual({
      name: "ca",
      path: ca.certPath,
      notAfter: ca.notAfter.toISOString(),
      daysLeft: expect.any(Number),
    });
    expect((event?.json.certificate as { daysLeft?: number } | undefined)?.daysLeft).toBeOneOf([9, 10]);
    // Once per webhook: another route with the same webhook does not repeat it.
    expect(
      (await runGotunnel(["start", "-d", "cert2", "-p", String(port)], { cwd: dir, home, env: PORTS })).exitCode,
    ).toBe(0);
    await Bun.sleep(500);
    expect(hooks.seen.filter((got) => got.json.event === "certificate.expiring")).toHaveLength(1);
    expect(hooks.seen.filter((got) => got.json.event !== "certificate.expiring")).toEqual([]);
  }, 60_000);
});
