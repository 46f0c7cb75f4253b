/**
 * The config tools on the compiled binary: `gotunnel init` in a Vite app (then `up` serves it by name, a real Vite),
 * a Next app and a plain directory, and its refusal to overwrite; profiles chosen by `--profile` and by
 * GOTUNNEL_PROFILE with real upstreams, an unknown one, and doctor, which reads only the user file; `config migrate` of the Go gotunnel's config in JSON,
 * YAML and TOML (rewritten atomically with a backup, then read without a warning) and the edits it prints for TS.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseTOML, parseYAML } from "confbox";
import { curl, E2EScope, requireBinary, runGotunnel } from "../helpers/e2e.ts";
import { appProject } from "../helpers/frameworks.ts";
import { startEchoUpstream } from "../helpers/upstreams.ts";

const scope = new E2EScope();
afterAll(() => scope.dispose());

const PORTS = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };

function gotunnel(args: string[], cwd: string, home = scope.dir("home"), env: Record<string, string> = {}) {
  return runGotunnel(args, { cwd, home, env: { ...PORTS, ...env } });
}

interface Shown {
  files: string[];
  profile?: string;
  warnings: string[];
  config: { routes: { name: string; target: { origin: string }; dev?: { command: string } }[] };
}

async function show(cwd: string, args: string[] = [], env: Record<string, string> = {}): Promise<Shown> {
  const result = await gotunnel(["config", "show", "--json", ...args], cwd, scope.dir("home"), env);
  if (result.exitCode !== 0) throw new Error(`config show failed (${result.exitCode}): ${result.stderr}`);
  return JSON.parse(result.stdout) as Shown;
}

describe("gotunnel init", () => {
  test("in a Vite app it writes a command route for its dev script, and `up` serves the app on that name", async () => {
    requireBinary();
    const dir = appProject(scope, {
      "package.json": JSON.stringify({
        name: "shop",
        private: true,
        scripts: { dev: "vite" },
        devDependencies: { vite: "8.4.1" },
      }),
      "index.html": "<!doctype html><html><body><h1>initialised</h1></body></html>",
    });
    const init = await gotunnel(["init", "--name", "shop"], dir);
    expect(init.exitCode).toBe(0);
    expect(init.stdout).toContain('https://shop.local, Vite ("vite" in package.json)');
    const text = readFileSync(join(dir, "gotunnel.config.ts"), "utf8");
    expect(text).toContain('// gotunnel config for a Vite project ("vite" in package.json)');
    expect(text).toContain('    "shop.local": {\n');
    expect(text).toContain('      command: "npm run dev",\n');
    expect(statSync(join(dir, "gotunnel.config.ts")).mode & 0o777).toBe(0o644);

    const up = await scope.up(dir, scope.dir("home"));
    expect(up.ready.routes.map((route) => route.name)).toEqual(["shop.local"]);
    const page = await curl(`${up.ready.routes[0]?.url}/`, { ca: up.caPath });
    expect(page.status).toBe(200);
    expect(page.stdout).toContain("<h1>initialised</h1>");
    expect(await up.stop("SIGINT")).toBe(0);
  }, 90_000);

  test("in a Next app the route runs its dev script; in a plain directory it points at a port", async () => {
    const next = scope.project({
      "package.json": JSON.stringify({ scripts: { dev: "next dev" }, dependencies: { next: "16.5.0", react: "19" } }),
      "yarn.lock": "",
    });
    expect((await gotunnel(["init", "--name", "blog"], next)).exitCode).toBe(0);
    expect(readFileSync(join(next, "gotunnel.config.ts"), "utf8")).toContain(
      'a Next.js project ("next" in package.json)',
    );
    const nextConfig = await show(next);
    expect(nextConfig.config.routes).toMatchObject([{ name: "blog.local", dev: { command: "yarn run dev" } }]);

    const plain = scope.dir("Plain Site");
    const init = await gotunnel(["init", "--json"], plain);
    expect(init.exitCode).toBe(0);
    const name = JSON.parse(init.stdout).project.name as string;
    expect(name).toMatch(/^plain-site-[a-z0-9]+\.local$/);
    const plainConfig = await show(plain);
    expect(plainConfig.config.routes).toMatchObject([{ name, target: { origin: "http://localhost:3000" } }]);
    expect(plainConfig.config.routes[0]?.dev).toBeUndefined();
  });

  test("an existing config is never overwritten without --force, and with it the old file is kept", async () => {
    const dir = scope.project({ "gotunnel.config.json": '{ "routes": { "mine.local": 4000 } }\n' });
    const refused = await gotunnel(["init"], dir);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain(`${dir} already has a gotunnel config: gotunnel.config.json`);
    expect(refused.stderr).toContain("gotunnel init --force");
    expect(readFileSync(join(dir, "gotunnel.config.json"), "utf8")).toBe('{ "routes": { "mine.local": 4000 } }\n');

    expect((await gotunnel(["init", "--force", "--name", "fresh"], dir)).exitCode).toBe(0);
    expect(readFileSync(join(dir, "gotunnel.config.json.bak"), "utf8")).toBe('{ "routes": { "mine.local": 4000 } }\n');
    expect((await show(dir)).config.routes.map((route) => route.name)).toEqual(["fresh.local"]);
  });
});

describe("profiles", () => {
  test("--profile and GOTUNNEL_PROFILE merge the profile over the file; an unknown one lists the profiles", async () => {
    const base = startEchoUpstream();
    const demo = startEchoUpstream();
    scope.defer(() => base.stop());
    scope.defer(() => demo.stop());
    const config = {
      routes: { "app.local": { target: base.port, headers: { "x-from": "base" } } },
      profiles: {
        demo: { routes: { "app.local": { target: demo.port }, "extra.local": demo.port } },
        other: { lan: false },
      },
    };
    const dir = scope.project({ "gotunnel.config.json": JSON.stringify(config) });

    const choices: { args: string[]; env: Record<string, string> }[] = [
      { args: ["--profile", "demo"], env: {} },
      { args: [], env: { GOTUNNEL_PROFILE: "demo" } },
    ];
    let home = "";
    for (const how of choices) {
      home = scope.dir("home");
      const up = await scope.start(["up", "--proxy-https-port", "0", "--proxy-http-port", "0", ...how.args], {
        cwd: dir,
        home,
        env: how.env,
      });
      expect(up.ready.routes.map((route) => [route.name, route.target])).toEqual([
        ["app.local", `http://localhost:${demo.port}`],
        ["extra.local", `http://localhost:${demo.port}`],
      ]);
      const before = demo.seen.length;
      const answer = await curl(`${up.ready.routes[0]?.url}/profiled`, { ca: up.caPath });
      expect(answer.status).toBe(200);
      // The demo upstream got it, with the base's header merged into the profile's route.
      const got = demo.seen.slice(before);
      expect(got.map((seen) => seen.path)).toEqual(["/profiled"]);
      expect(got[0]?.headers).toContainEqual(["x-from", "base"]);
      expect(await up.stop("SIGINT")).toBe(0);
    }

    const plain = await show(dir);
    expect(plain.config.routes.map((route) => route.name)).toEqual(["app.local"]);

    const unknown = await gotunnel(["up", "--profile", "dmeo"], dir);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain(
      `no profile named "dmeo" (from --profile): the profiles are demo, other (in ${join(dir, "gotunnel.config.json")})`,
    );
    expect(unknown.stderr).toContain("did you mean `--profile demo`?");
    const fromEnv = await gotunnel(["up"], dir, scope.dir("home"), { GOTUNNEL_PROFILE: "staging" });
    expect(fromEnv.exitCode).toBe(2);
    expect(fromEnv.stderr).toContain('no profile named "staging" (from GOTUNNEL_PROFILE)');
    // `down` needs only the project's directory: the variable does not stop it.
    const down = await gotunnel(["down"], dir, home, { GOTUNNEL_PROFILE: "staging" });
    expect(down.exitCode).toBe(0);
  }, 60_000);

  test("doctor reads the config as the daemon does: a project's GOTUNNEL_PROFILE does not stop it, --profile is no flag of it", async () => {
    const config = { routes: { "app.local": 3000 }, profiles: { demo: { lan: false } } };
    const dir = scope.project({ "gotunnel.config.json": JSON.stringify(config) });
    const doctor = await gotunnel(["doctor", "--json"], dir, scope.dir("home"), { GOTUNNEL_PROFILE: "demo" });
    expect(doctor.exitCode).toBe(0);
    const { checks } = JSON.parse(doctor.stdout) as { checks: { name: string }[] };
    expect(checks.map((check) => check.name)).toContain("daemon");
    const flag = await gotunnel(["doctor", "--profile=demo"], dir);
    expect(flag.exitCode).toBe(2);
    expect(flag.stderr).toContain("unknown flag --profile for `gotunnel doctor`");
  });
});

const GO_CONFIG = {
  service: { name: "gotunnel", environment: "staging" },
  proxy: { mode: "builtin", http_port: 8080, https_port: 8443 },
  observability: { logging: { level: "debug", format: "json" } },
  network: { idle_timeout: "90s" },
};
const MIGRATED = {
  version: 2,
  observability: { environment: "staging" },
  proxy: { httpPort: 8080, httpsPort: 8443, keepAliveTimeout: 90 },
  log: { level: "debug", format: "json" },
};

describe("config migrate", () => {
  test.each([
    ["json", JSON.stringify(GO_CONFIG, null, 4), (text: string) => JSON.parse(text)],
    [
      "yaml",
      "# from the Go tool\nservice:\n  name: gotunnel\n  environment: staging\nproxy:\n  mode: builtin\n  http_port: 8080\n  https_port: 8443\nobservability:\n  logging:\n    level: debug\n    format: json\nnetwork:\n  idle_timeout: 90s\n",
      (text: string) => parseYAML(text),
    ],
    [
      "toml",
      '[service]\nname = "gotunnel"\nenvironment = "staging"\n\n[proxy]\nmode = "builtin"\nhttp_port = 8080\nhttps_port = 8443\n\n[observability.logging]\nlevel = "debug"\nformat = "json"\n\n[network]\nidle_timeout = "90s"\n',
      (text: string) => parseTOML(text),
    ],
  ])("%s: read with a warning, rewritten in place with a backup, then read without one", async (ext, text, parse) => {
    const dir = scope.project({ [`gotunnel.config.${ext}`]: text });
    const file = join(dir, `gotunnel.config.${ext}`);
    const before = await gotunnel(["config", "show", "--json"], dir);
    expect(before.exitCode).toBe(0);
    expect(before.stderr).toContain(
      `${file} is in the Go gotunnel's config shape (version 1); it is read as version 2:`,
    );
    expect(before.stderr).toContain("proxy.http_port is now proxy.httpPort");
    expect(before.stderr).toContain(`gotunnel config migrate ${file}`);
    const inode = statSync(file).ino;

    const migrate = await gotunnel(["config", "migrate", "--json"], dir);
    expect(migrate.exitCode).toBe(0);
    const [outcome] = JSON.parse(migrate.stdout).files;
    expect(outcome).toMatchObject({ file, status: "rewritten", from: 1, backup: `${file}.v1.bak` });
    expect(readFileSync(`${file}.v1.bak`, "utf8")).toBe(text);
    expect(parse(readFileSync(file, "utf8"))).toEqual(MIGRATED);
    // Replaced by a rename (a new inode), not rewritten where it was: a reader never sees half a file.
    expect(statSync(file).ino).not.toBe(inode);
    if (ext === "json") expect(readFileSync(file, "utf8")).toStartWith('{\n    "version": 2,');

    const after = await gotunnel(["config", "show", "--json"], dir);
    expect(after.stderr).not.toContain("Go gotunnel");
    // (The test's environment sets the ports, and the environment wins over a file.)
    const { config } = JSON.parse(after.stdout);
    expect(config.proxy.keepAliveTimeout).toBe(90);
    expect(config.log).toEqual({ level: "debug", format: "json" });
    expect(config.observability.environment).toBe("staging");
    const again = await gotunnel(["config", "migrate"], dir);
    expect(again.stdout).toContain(`${file}: already in the current shape`);
  });

  test("a .ts config is not rewritten: the exact edits and the whole config are printed", async () => {
    const text = 'export default { proxy: { http_port: 8080, mode: "builtin" }, routes: { "a.local": 3000 } };\n';
    const dir = scope.project({ "gotunnel.config.ts": text });
    const migrate = await gotunnel(["config", "migrate"], dir);
    expect(migrate.exitCode).toBe(0);
    expect(readFileSync(join(dir, "gotunnel.config.ts"), "utf8")).toBe(text);
    expect(migrate.stderr).toContain(`${join(dir, "gotunnel.config.ts")} is code, so gotunnel does not rewrite it`);
    expect(migrate.stdout.split("\n").slice(0, 4)).toEqual([
      "    replace `proxy.http_port: 8080` with `proxy.httpPort: 8080`",
      '    remove `proxy.mode: "builtin"`: gotunnel has one built-in proxy',
      "    add `version: 2` at the top level",
      "  The whole config in the current shape:",
    ]);
    const replacement = migrate.stdout.slice(migrate.stdout.indexOf("export default"));
    writeFileSync(join(dir, "gotunnel.config.ts"), `import { defineConfig } from "gotunnel";\n${replacement}`);
    const after = await show(dir);
    expect(after.warnings).toEqual([]);
    expect(after.config.routes.map((route) => route.name)).toEqual(["a.local"]);
  });
});
