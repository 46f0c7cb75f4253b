/**
 * How a route's command is started (src/devserver/plan.ts): which framework, which port, which arguments go where
 * through each package manager, and which variables allow the route's name. One table row per case.
 */
import { describe, expect, test } from "bun:test";
import { isGotunnelError } from "../../src/core/errors.ts";
import type { PackageJson } from "../../src/devserver/command.ts";
import { type LaunchInput, planLaunch } from "../../src/devserver/plan.ts";
import { readShellLine } from "../../src/devserver/shell-words.ts";

const FREE = 41234;

function plan(command: string | string[], extra: Partial<LaunchInput> = {}) {
  return planLaunch({ name: "shop.local", command, freePort: FREE, baseEnv: {}, ...extra });
}

const scripts = (map: Record<string, string>, deps: Record<string, string> = {}): PackageJson => ({
  scripts: map,
  devDependencies: deps,
});

describe("framework and port arguments from the command", () => {
  test.each<[string | string[], PackageJson | undefined, string | string[], string | undefined]>([
    // [command, package.json, what is spawned (string: sh -c line), framework]
    ["vite", undefined, ["vite", "--port", "41234", "--strictPort"], "vite"],
    ["vite dev --open", undefined, ["vite", "dev", "--open", "--port", "41234", "--strictPort"], "vite"],
    [["npx", "vite"], undefined, ["npx", "vite", "--port", "41234", "--strictPort"], "vite"],
    ["bunx --bun vite", undefined, ["bunx", "--bun", "vite", "--port", "41234", "--strictPort"], "vite"],
    ["pnpm exec vite", undefined, ["pnpm", "exec", "vite", "--port", "41234", "--strictPort"], "vite"],
    ["astro dev", undefined, ["astro", "dev", "--port", "41234"], "astro"],
    ["nuxt dev", undefined, ["nuxt", "dev", "--port", "41234"], "nuxt"],
    ["react-router dev", undefined, ["react-router", "dev", "--port", "41234", "--strictPort"], "react-router"],
    ["remix vite:dev", undefined, ["remix", "vite:dev", "--port", "41234", "--strictPort"], "remix"],
    ["next dev", undefined, ["next", "dev", "-p", "41234"], "next"],
    ["next dev --turbopack", undefined, ["next", "dev", "--turbopack", "-p", "41234"], "next"],
    ["ng serve", undefined, ["ng", "serve", "--port", "41234", "--allowed-hosts", "shop.local"], "angular"],
    [
      "webpack serve --mode development",
      undefined,
      ["webpack", "serve", "--mode", "development", "--port", "41234", "--allowed-hosts", "shop.local"],
      "webpack",
    ],
    ["bin/rails server", undefined, ["bin/rails", "server", "-p", "41234"], "rails"],
    ["rails s", undefined, ["rails", "s", "-p", "41234"], "rails"],
    ["python manage.py runserver", undefined, ["python", "manage.py", "runserver", "127.0.0.1:41234"], "django"],
    ["bun --watch api.ts", undefined, ["bun", "--watch", "api.ts"], undefined],
    ["node server.js", undefined, ["node", "server.js"], undefined],
    // Through package-manager scripts: npm needs `--`, pnpm, yarn and bun take the arguments as they are.
    ["npm run dev", scripts({ dev: "vite" }), ["npm", "run", "dev", "--", "--port", "41234", "--strictPort"], "vite"],
    ["npm start", scripts({ start: "next dev" }), ["npm", "start", "--", "-p", "41234"], "next"],
    [
      "npm run dev -- --open",
      scripts({ dev: "vite" }),
      ["npm", "run", "dev", "--", "--open", "--port", "41234", "--strictPort"],
      "vite",
    ],
    ["pnpm dev", scripts({ dev: "vite" }), ["pnpm", "dev", "--port", "41234", "--strictPort"], "vite"],
    ["pnpm run dev", scripts({ dev: "next dev" }), ["pnpm", "run", "dev", "-p", "41234"], "next"],
    ["yarn dev", scripts({ dev: "vite" }), ["yarn", "dev", "--port", "41234", "--strictPort"], "vite"],
    ["bun run dev", scripts({ dev: "vite" }), ["bun", "run", "dev", "--port", "41234", "--strictPort"], "vite"],
    [
      "bun dev",
      scripts({ dev: "ng serve" }),
      ["bun", "dev", "--port", "41234", "--allowed-hosts", "shop.local"],
      "angular",
    ],
    // A script that runs another script: one `--` per npm level.
    [
      "npm run dev",
      scripts({ dev: "npm run web", web: "vite" }),
      ["npm", "run", "dev", "--", "--", "--port", "41234", "--strictPort"],
      "vite",
    ],
    [
      "pnpm dev",
      scripts({ dev: "npm run web", web: "vite" }),
      ["pnpm", "dev", "--", "--port", "41234", "--strictPort"],
      "vite",
    ],
    // The framework is the script's last command: arguments reach it.
    [
      "npm run dev",
      scripts({ dev: "tsc -b && vite" }),
      ["npm", "run", "dev", "--", "--port", "41234", "--strictPort"],
      "vite",
    ],
    [
      "npm run dev",
      scripts({ dev: "cross-env NODE_ENV=development vite" }),
      ["npm", "run", "dev", "--", "--port", "41234", "--strictPort"],
      "vite",
    ],
    // A shell line: run by sh -c, arguments appended at its end when its last command is plain.
    ["cd web && vite", undefined, "cd web && vite --port 41234 --strictPort", "vite"],
    ["NODE_ENV=development next dev", undefined, "NODE_ENV=development next dev -p 41234", "next"],
  ])("%j with %j → %j", (command, pkg, spawned, framework) => {
    const result = plan(command, pkg ? { pkg } : {});
    expect("argv" in result.spawn ? result.spawn.argv : result.spawn.shell).toEqual(spawned);
    expect(result.framework?.id).toBe(framework as never);
    expect(result.port).toBe(FREE);
    expect(result.env.PORT).toBe(String(FREE));
  });
});

describe("the port", () => {
  test("the route's port is the server's, and the arguments say it", () => {
    const result = plan("vite", { port: 5173 });
    expect(result.port).toBe(5173);
    expect(result.spawn).toEqual({ argv: ["vite", "--port", "5173", "--strictPort"] });
  });

  test.each<[string, PackageJson | undefined, number]>([
    ["vite --port 4000", undefined, 4000],
    ["vite --port=4000", undefined, 4000],
    ["next dev -p 4100", undefined, 4100],
    ["python manage.py runserver 0.0.0.0:8001", undefined, 8001],
    ["python manage.py runserver 8002", undefined, 8002],
    ["rails s -p 3001", undefined, 3001],
    ["npm run dev", scripts({ dev: "vite --port 4200" }), 4200],
    ["npm run dev -- --port 4300", scripts({ dev: "vite" }), 4300],
  ])("a port the command names (%j) is used as is, and nothing is added", (command, pkg, port) => {
    const result = plan(command, pkg ? { pkg } : {});
    expect(result.port).toBe(port);
    expect(result.env.PORT).toBe(String(port));
    const text = JSON.stringify(result.spawn);
    expect(text).not.toContain(String(FREE));
  });

  test("a route port that contradicts the command's is a config error naming both", () => {
    let error: unknown;
    try {
      plan("vite --port 4000", { port: 5173 });
    } catch (caught) {
      error = caught;
    }
    expect(isGotunnelError(error) && error.code).toBe("E_CONFIG_INVALID");
    expect((error as Error).message).toContain(
      'routes["shop.local"]: port is 5173, but its command starts Vite on port 4000',
    );
  });

  test("Vite in a shell line gotunnel cannot append to, with no port: an error that says how to fix it", () => {
    let error: unknown;
    try {
      plan("vite > vite.log");
    } catch (caught) {
      error = caught;
    }
    expect(isGotunnelError(error) && error.code).toBe("E_CONFIG_INVALID");
    expect((error as Error).message).toContain("cannot pass a port to Vite");
    expect(isGotunnelError(error) && error.hint).toContain("--port 41234 --strictPort");
  });

  test("…but Next reads PORT, so the same shape works there without arguments", () => {
    const result = plan("next dev > next.log");
    expect(result.spawn).toEqual({ shell: "next dev > next.log" });
    expect(result.env.PORT).toBe(String(FREE));
  });

  test("…and with the route's own port, gotunnel trusts the command to use it", () => {
    expect(plan("vite --host > vite.log", { port: 5173 }).port).toBe(5173);
  });

  test("a script whose framework is not its last command gets no arguments (they would reach the wrong program)", () => {
    const result = plan("npm run dev", { pkg: scripts({ dev: "vite & tailwindcss --watch" }), port: 5173 });
    expect(result.spawn).toEqual({ argv: ["npm", "run", "dev"] });
  });
});

describe("names and the proxy", () => {
  test("every command gets the route's name in the allowed-hosts variables Vite and Rails read", () => {
    for (const command of ["vite", "node server.js", "rails s"]) {
      const { env } = plan(command);
      expect(env.__VITE_ADDITIONAL_SERVER_ALLOWED_HOSTS).toBe("shop.local");
      expect(env.RAILS_DEVELOPMENT_HOSTS).toBe("shop.local");
    }
  });

  test("a wildcard route allows every subdomain (a leading dot), and an existing list is kept", () => {
    const { env } = plan("vite", {
      name: "*.shop.local",
      baseEnv: { __VITE_ADDITIONAL_SERVER_ALLOWED_HOSTS: "other.test" },
    });
    expect(env.__VITE_ADDITIONAL_SERVER_ALLOWED_HOSTS).toBe("other.test,.shop.local");
    expect(env.RAILS_DEVELOPMENT_HOSTS).toBe(".shop.local");
  });

  test("Next.js gets rewriteOrigin for its dev endpoints, from the command or from package.json", () => {
    expect(plan("next dev").rewriteOrigin).toEqual(["/_next/", "/__nextjs"]);
    const custom = plan("node server.js", { pkg: { dependencies: { next: "16.5.0" } } });
    expect(custom.framework).toEqual({ id: "next", label: "Next.js", from: "package.json" });
    expect(custom.rewriteOrigin).toEqual(["/_next/", "/__nextjs"]);
    expect(custom.spawn).toEqual({ argv: ["node", "server.js"] });
    expect(plan("vite").rewriteOrigin).toBeUndefined();
  });

  test("package.json: the most specific framework wins over the Vite it depends on", () => {
    const result = plan("node dev.js", { pkg: { devDependencies: { vite: "8", astro: "5" } } });
    expect(result.framework?.id).toBe("astro");
  });
});

describe("shell words", () => {
  test.each<[string, string[], boolean]>([
    ["vite --open", ["vite", "--open"], false],
    [`echo "a b" 'c d' e\\ f`, ["echo", "a b", "c d", "e f"], false],
    ["a && b || c; d | e", ["a", "&&", "b", "||", "c", ";", "d", "|", "e"], false],
    ["echo $HOME", ["echo", "$HOME"], true],
    ["vite > log", ["vite", ">", "log"], true],
    [`echo "$HOME"`, ["echo", "$HOME"], true],
    ["(cd web && vite)", ["(cd", "web", "&&", "vite)"], true],
  ])("%j", (line, words, complex) => {
    const read = readShellLine(line);
    expect(read.tokens.map((token) => token.value)).toEqual(words);
    expect(read.complex).toBe(complex);
  });
});
