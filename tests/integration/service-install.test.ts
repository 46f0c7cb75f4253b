/**
 * `service install`'s checks before anything is written (daemon/login-service.ts): never as root, and when the
 * daemon may not use its ports as the user, either stop with the exact sudo command or, where a password can be
 * typed, run exactly that command through the runner seam. The login service itself is a stand-in whose install
 * records the call; no daemon runs here (a temp GOTUNNEL_HOME's socket does not exist).
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isGotunnelError } from "../../src/core/errors.ts";
import { type InstallOptions, installService, type PortsDenied } from "../../src/daemon/login-service.ts";
import { resolvePaths } from "../../src/platform/paths.ts";
import type { LoginService, PortAccess, ServiceContext } from "../../src/platform/service/index.ts";
import { type Answer, scriptedRunner } from "../helpers/scripted-runner.ts";

const home = mkdtempSync(join(tmpdir(), "gotunnel-service-install-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

const PROGRAM = "/opt/gotunnel/gotunnel";
const DENIED: PortAccess = {
  ok: false,
  ports: [443, 80],
  why: "ports 443 and 80 are below 1024, which Linux keeps for root",
  fix: ["sudo", "setcap", "cap_net_bind_service=+ep", PROGRAM],
};
/** Thrown by the stand-in's install: the checks before it passed and the service would now be installed. */
const REACHED_INSTALL = new Error("service.install reached");

function setup(access: PortAccess, answer: (argv: string[]) => Answer = () => undefined, uid = 1000) {
  const runner = scriptedRunner(answer);
  const context: ServiceContext = {
    runner,
    home,
    env: {},
    uid,
    user: "ada",
    readText: () => undefined,
    selfExe: PROGRAM,
    stateDir: join(home, "state"),
  };
  const installs: unknown[] = [];
  const service: LoginService = {
    kind: "stand-in",
    file: join(home, "unit"),
    render: () => [],
    install: async (spec) => {
      installs.push(spec);
      throw REACHED_INSTALL;
    },
    status: async () => ({ installed: false, running: false, file: "", logs: "its log", detail: "not installed" }),
    uninstall: async () => ({ changed: false, removed: [] }),
    portAccess: async () => access,
  };
  const asked: PortsDenied[] = [];
  const options = (interactive: boolean): InstallOptions => ({
    paths: resolvePaths({ env: { GOTUNNEL_HOME: home } }),
    service,
    context,
    spec: { program: PROGRAM, args: ["daemon"], env: {}, workingDir: join(home, "state") },
    ports: { https: 443, http: 80 },
    confirmPrivileged: (denied) => {
      asked.push(denied);
      return interactive;
    },
  });
  return { runner, installs, asked, options };
}

test("as root it refuses before checking or changing anything", async () => {
  const { runner, installs, options } = setup(DENIED, undefined, 0);
  const error = await installService(options(true)).catch((e: unknown) => e);
  expect(isGotunnelError(error) && error.code).toBe("E_USAGE");
  expect(isGotunnelError(error) && error.hint).toContain("without sudo");
  expect(runner.calls).toEqual([]);
  expect(installs).toEqual([]);
});

test("ports denied where no password can be typed: exit 4 with the exact command, nothing installed", async () => {
  const { runner, installs, asked, options } = setup(DENIED);
  const error = await installService(options(false)).catch((e: unknown) => e);
  expect(isGotunnelError(error) && error.code).toBe("E_PORT_PRIVILEGED");
  expect(isGotunnelError(error) && error.exitCode).toBe(4);
  expect((error as Error).message).toBe("the daemon cannot listen on 443 and 80 as you");
  expect(isGotunnelError(error) && error.hint).toContain(
    `Run \`sudo setcap cap_net_bind_service=+ep ${PROGRAM}\` once`,
  );
  expect(asked).toEqual([DENIED as PortsDenied]);
  expect(runner.calls).toEqual([]);
  expect(installs).toEqual([]);
});

test("ports denied on a terminal: says why, runs exactly sudo setcap on the binary, then installs", async () => {
  const { runner, installs, options } = setup(DENIED);
  expect(await installService(options(true)).catch((e: unknown) => e)).toBe(REACHED_INSTALL);
  expect(runner.lines()).toEqual([`sudo setcap cap_net_bind_service=+ep ${PROGRAM}`]);
  expect(installs).toHaveLength(1);
});

test("a failed sudo setcap stops the install with what it said", async () => {
  const { installs, options } = setup(DENIED, () => ({ code: 1, stderr: "sudo: a password is required" }));
  const error = await installService(options(true)).catch((e: unknown) => e);
  expect(isGotunnelError(error) && error.code).toBe("E_PORT_PRIVILEGED");
  expect(isGotunnelError(error) && error.hint).toContain("sudo: a password is required");
  expect(installs).toEqual([]);
});

test("ports already allowed: no question, no command, straight to install", async () => {
  const { runner, asked, installs, options } = setup({ ok: true, how: "has the capability" });
  expect(await installService(options(true)).catch((e: unknown) => e)).toBe(REACHED_INSTALL);
  expect(asked).toEqual([]);
  expect(runner.calls).toEqual([]);
  expect(installs).toHaveLength(1);
});

test("ports no one-time step can allow (macOS loopback): exit 4 pointing at other ports, without asking", async () => {
  const { runner, asked, installs, options } = setup({
    ok: false,
    ports: [443, 80],
    why: "only on the wildcard address",
  });
  const error = await installService(options(true)).catch((e: unknown) => e);
  expect(isGotunnelError(error) && error.hint).toBe(
    "only on the wildcard address. Install with `--proxy-https-port 8443 --proxy-http-port 8080`",
  );
  expect(asked).toEqual([]);
  expect(runner.calls).toEqual([]);
  expect(installs).toEqual([]);
});
