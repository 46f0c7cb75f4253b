/**
 * Docker discovery on the compiled binary against a real engine that speaks the Docker Engine API: Podman's API
 * service with a private storage root and socket (tests/helpers/podman.ts), and busybox httpd containers from an
 * image built here. The daemon runs in the foreground (`gotunnel daemon --docker`) so its log is read as it goes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BINARY, binaryEnv, curl, E2EScope, freePort, Gotunnel, requireBinary, runGotunnel } from "../helpers/e2e.ts";
import { PodmanService, requirePodman } from "../helpers/podman.ts";
import { requireAll, requireTools } from "../helpers/tools.ts";

const needs = requireAll(requirePodman(), requireTools("curl"));
/** Podman's first start, the import and a container run take a few seconds each on this 2-core machine. */
const SETUP_TIMEOUT_MS = 180_000;
const STEP_TIMEOUT_MS = 120_000;
/** Long enough for an event, a list and a transaction; the bound only catches a route that never changes. */
const ROUTE_WAIT_MS = 30_000;
const PAGE = `served from a container ${crypto.randomUUID()}\n`;

interface ListedRoute {
  name: string;
  target: { origin: string; port: number };
  owner: { kind: string; container?: string; id?: string; cwd?: string };
  source?: string;
  persistent: boolean;
}

const scope = new E2EScope();
let engine: PodmanService;
let socket: string;
const home = scope.dir("home");

/** Free ports always: a command that has to start a daemon must never take 443/80. */
const PORTS = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };

async function gotunnel(args: string[]) {
  return runGotunnel(args, { cwd: home, home, env: { ...PORTS, DOCKER_HOST: `unix://${socket}` } });
}

async function routes(): Promise<ListedRoute[]> {
  const listed = await gotunnel(["list", "--json"]);
  if (listed.exitCode !== 0) throw new Error(`gotunnel list failed: ${listed.stderr}`);
  return (JSON.parse(listed.stdout) as { routes: ListedRoute[] }).routes;
}

/** Polls `gotunnel list` until `check` holds for the routes; returns them (the assertion after says what was wrong). */
async function routesWhen(check: (routes: ListedRoute[]) => boolean): Promise<ListedRoute[]> {
  const deadline = Date.now() + ROUTE_WAIT_MS;
  for (;;) {
    const current = await routes();
    if (check(current) || Date.now() > deadline) return current;
    await Bun.sleep(100);
  }
}

const named = (name: string) => (list: ListedRoute[]) => list.find((route) => route.name === name);
const has = (name: string) => (list: ListedRoute[]) => named(name)(list) !== undefined;

/** `gotunnel daemon --docker` in the foreground on free ports, following the test's engine. */
async function startDaemon(): Promise<{ daemon: Gotunnel; https: number; http: number; ca: string }> {
  requireBinary();
  const env = binaryEnv(home, { ...PORTS, DOCKER_HOST: `unix://${socket}` });
  const proc = Bun.spawn([BINARY, "daemon", "--docker"], {
    cwd: home,
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    detached: true,
  }) as Subprocess<"ignore", "pipe", "pipe">;
  const daemon = new Gotunnel(proc, home);
  scope.defer(() => daemon.kill());
  await daemon.stdout.waitFor((line) => line.includes(" ready on "), STEP_TIMEOUT_MS);
  const status = JSON.parse((await gotunnel(["status", "--json"])).stdout) as {
    ports: { https: number; http: number };
    ca: { path: string };
  };
  return { daemon, https: status.ports.https, http: status.ports.http, ca: status.ca.path };
}

/** The routes in the daemon's state file (none when it was never written). */
function savedRoutes(): unknown[] {
  const file = join(home, "state", "routes.json");
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { routes: unknown[] }).routes : [];
}

function log(daemon: Gotunnel): string {
  return `${daemon.stdout.text()}\n${daemon.stderr.text()}`;
}

afterAll(() => scope.dispose(), SETUP_TIMEOUT_MS);

describe.skipIf(needs.skip)(needs.title("docker discovery against podman's API service"), () => {
  let daemon: Gotunnel;
  let ports: { https: number; http: number; ca: string };

  beforeAll(async () => {
    const dir = scope.dir("podman");
    socket = join(scope.dir("sockets"), "engine.sock");
    engine = await PodmanService.start(dir, socket);
    await engine.importImage({ "index.html": PAGE });
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await engine?.stop();
  }, SETUP_TIMEOUT_MS);

  test(
    "a labelled container running before the daemon starts is discovered at start and served through the CA",
    async () => {
      const id = await engine.runContainer({
        name: "early",
        labels: { "gotunnel.route": "early.local" },
        publish: [8080],
        httpPort: 8080,
      });
      const hostPort = await engine.hostPort("early", 8080);
      const started = await startDaemon();
      daemon = started.daemon;
      ports = started;
      const route = named("early.local")(await routesWhen(has("early.local")));
      expect(route).toMatchObject({
        source: "docker",
        owner: { kind: "docker", container: "early", id },
        target: { origin: `http://127.0.0.1:${hostPort}` },
        persistent: false,
      });
      const page = await curl(`https://early.local:${ports.https}/index.html`, { ca: ports.ca });
      expect(page.stdout).toBe(PAGE);
      const text = await gotunnel(["list"]);
      expect(text.stdout).toContain(`container early ${id.slice(0, 12)} (docker)`);
      // Never a user's route: nothing of it reaches the state file.
      expect(savedRoutes()).toEqual([]);
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "stopping the container removes its route; starting it again brings the route back",
    async () => {
      await engine.podman(["stop", "--time", "0", "early"]);
      expect(named("early.local")(await routesWhen((list) => !named("early.local")(list)))).toBeUndefined();
      const gone = await curl(`http://early.local:${ports.http}/index.html`);
      expect(gone.status).toBe(404);
      expect(gone.stdout).toContain(`No gotunnel route for "early.local:${ports.http}"`);
      expect(log(daemon)).toContain("early.local removed: container early");

      await engine.podman(["start", "early"]);
      const hostPort = await engine.hostPort("early", 8080);
      const back = named("early.local")(
        await routesWhen((list) => named("early.local")(list)?.target.port === hostPort),
      );
      expect(back?.target.origin).toBe(`http://127.0.0.1:${hostPort}`);
      expect((await curl(`https://early.local:${ports.https}/index.html`, { ca: ports.ca })).stdout).toBe(PAGE);
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "gotunnel.port picks the container port when several are published",
    async () => {
      // httpd listens on 9090 only: the lowest published port (8080) would answer nothing.
      await engine.runContainer({
        name: "multi",
        labels: { "gotunnel.route": "multi.local", "gotunnel.port": "9090" },
        publish: [8080, 9090],
        httpPort: 9090,
      });
      const hostPort = await engine.hostPort("multi", 9090);
      const route = named("multi.local")(await routesWhen(has("multi.local")));
      expect(route?.target.origin).toBe(`http://127.0.0.1:${hostPort}`);
      expect((await curl(`https://multi.local:${ports.https}/index.html`, { ca: ports.ca })).stdout).toBe(PAGE);
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "a label that is no route name is a warning naming the container and the label; nothing else changes",
    async () => {
      await engine.runContainer({
        name: "badlabel",
        labels: { "gotunnel.route": "bad_name!.local" },
        publish: [8080],
        httpPort: 8080,
      });
      const warning = await daemon.stderr.waitFor((line) => line.includes("badlabel"), ROUTE_WAIT_MS);
      expect(warning).toContain("container badlabel");
      expect(warning).toContain('gotunnel.route="bad_name!.local"');
      expect(warning).toContain("not a route name");
      const list = await routes();
      expect(list.map((route) => route.name).sort()).toEqual(["early.local", "multi.local"]);
      expect((await curl(`https://early.local:${ports.https}/index.html`, { ca: ports.ca })).stdout).toBe(PAGE);
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "a user's route of the same name wins with a warning, and the container's is served again once it goes",
    async () => {
      const upstream = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("the user's server\n") });
      scope.defer(() => upstream.stop(true));
      const started = await gotunnel(["start", "-d", "early.local", "-p", String(upstream.port)]);
      expect(started.exitCode).toBe(0);
      const warning = await daemon.stderr.waitFor((line) => line.includes("which wins"), ROUTE_WAIT_MS);
      expect(warning).toContain("early.local: container early");
      expect(named("early.local")(await routes())).toMatchObject({ source: "user", owner: { kind: "command" } });
      expect((await curl(`https://early.local:${ports.https}/`, { ca: ports.ca })).stdout).toBe("the user's server\n");

      // A discovered route is not the user's to stop: the error says how it goes.
      const refused = await gotunnel(["stop", "multi.local"]);
      expect(refused.exitCode).toBe(2);
      expect(refused.stderr).toContain("multi.local is discovered from container multi");

      expect((await gotunnel(["stop", "early.local"])).exitCode).toBe(0);
      expect(named("early.local")(await routes())).toMatchObject({ source: "docker", owner: { container: "early" } });
      expect((await curl(`https://early.local:${ports.https}/index.html`, { ca: ports.ca })).stdout).toBe(PAGE);
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "discovered routes are not saved: a restarted daemon discovers them again",
    async () => {
      expect(await daemon.stop()).toBe(0);
      const saved = JSON.parse(readFileSync(join(home, "state", "routes.json"), "utf8")) as { routes: unknown[] };
      expect(saved.routes).toEqual([]);
      const started = await startDaemon();
      daemon = started.daemon;
      ports = started;
      const list = await routesWhen((current) => current.length === 2);
      expect(list.map((route) => [route.name, route.source])).toEqual([
        ["early.local", "docker"],
        ["multi.local", "docker"],
      ]);
      expect((await curl(`https://early.local:${ports.https}/index.html`, { ca: ports.ca })).stdout).toBe(PAGE);
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "when the engine goes away its routes go; discovery reconnects to a new engine on the same socket",
    async () => {
      await engine.stop();
      expect(await routesWhen((list) => list.length === 0)).toEqual([]);
      expect(log(daemon)).toContain(`the engine at unix://${socket} cannot be reached`);
      const status = JSON.parse((await gotunnel(["status", "--json"])).stdout) as {
        discovery?: { docker: { connected: boolean; engine: string } };
      };
      expect(status.discovery?.docker).toMatchObject({ connected: false, engine: `unix://${socket}` });

      engine = await PodmanService.start(scope.dir("podman-again"), socket);
      await engine.importImage({ "index.html": PAGE });
      await engine.runContainer({
        name: "late",
        labels: { "gotunnel.route": "late.local" },
        publish: [8080],
        httpPort: 8080,
      });
      const route = named("late.local")(await routesWhen(has("late.local")));
      expect(route).toMatchObject({ source: "docker", owner: { container: "late" } });
      expect((await curl(`https://late.local:${ports.https}/index.html`, { ca: ports.ca })).stdout).toBe(PAGE);
    },
    SETUP_TIMEOUT_MS,
  );
});

describe.skipIf(needs.skip)(needs.title("docker discovery from a project's config, over tcp://"), () => {
  let tcpEngine: PodmanService | undefined;

  afterAll(async () => {
    await tcpEngine?.stop();
  }, SETUP_TIMEOUT_MS);

  test(
    "a project's discovery.docker reaches the daemon its command starts, and DOCKER_HOST=tcp:// is followed",
    async () => {
      const port = await freePort();
      tcpEngine = await PodmanService.start(scope.dir("podman-tcp"), { tcpPort: port });
      await tcpEngine.importImage({ "index.html": PAGE });
      await tcpEngine.runContainer({
        name: "tcp",
        labels: { "gotunnel.route": "tcp.local" },
        publish: [8080],
        httpPort: 8080,
      });
      const hostPort = await tcpEngine.hostPort("tcp", 8080);
      const projectHome = scope.dir("project-home");
      const project = scope.project({ "gotunnel.config.json": JSON.stringify({ discovery: { docker: true } }) });
      const upstream = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("mine\n") });
      scope.defer(() => upstream.stop(true));
      const env = { ...PORTS, DOCKER_HOST: `tcp://127.0.0.1:${port}` };
      const options = { cwd: project, home: projectHome, env };
      const started = await runGotunnel(["start", "-d", "mine", "-p", String(upstream.port), "--json"], options);
      expect(started.exitCode).toBe(0);
      const ready = JSON.parse(started.stdout.split("\n")[0] ?? "") as {
        ports: { https: number };
        ca: { path: string };
      };
      let found: ListedRoute | undefined;
      const deadline = Date.now() + ROUTE_WAIT_MS;
      while (!found && Date.now() < deadline) {
        const listed = await runGotunnel(["list", "--json"], options);
        found = (JSON.parse(listed.stdout) as { routes: ListedRoute[] }).routes.find(
          (route) => route.name === "tcp.local",
        );
        if (!found) await Bun.sleep(100);
      }
      expect(found).toMatchObject({ source: "docker", target: { origin: `http://127.0.0.1:${hostPort}` } });
      const page = await curl(`https://tcp.local:${ready.ports.https}/index.html`, { ca: ready.ca.path });
      expect(page.stdout).toBe(PAGE);
      const status = JSON.parse((await runGotunnel(["status", "--json"], options)).stdout) as {
        discovery?: { docker: unknown };
      };
      expect(status.discovery?.docker).toEqual({ engine: `tcp://127.0.0.1:${port}`, connected: true, routes: 1 });
    },
    SETUP_TIMEOUT_MS,
  );
});
