/**
 * `gotunnel service install|status|uninstall` on the compiled binary under a real systemd user manager
 * (tests/helpers/user-manager.ts), as the unprivileged user `nobody`, inside a network namespace the test created,
 * so the service's daemon listens on that namespace's 443 and 80, never this machine's. The binary is a copy with
 * `cap_net_bind_service` (the one-time step `service install` asks for), and the user's home starts empty: after
 * uninstall it holds only gotunnel's own data again.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BINARY, E2EScope, requireBinary, run } from "../helpers/e2e.ts";
import { collect, eventually } from "../helpers/netns.ts";
import { cleanupNobodyFiles, copyForNobody, nobodyDir } from "../helpers/nobody.ts";
import { requireAll, requirement, requireTools } from "../helpers/tools.ts";
import { UserManager, userManagerSkipReason } from "../helpers/user-manager.ts";

const NOBODY = 65534;
const UPSTREAM_PORT = 3999;
const can = requireAll(requirement(userManagerSkipReason()), requireTools("ip", "setcap", "curl", "systemd-analyze"));
const scope = new E2EScope();

describe.skipIf(can.skip)(can.title("gotunnel service under a real systemd user manager"), () => {
  let manager: UserManager;
  let home: string;
  let binary: string;
  /** The same binary without the capability. */
  let plain: string;
  let netns: string;
  let env: Record<string, string>;
  let upstream: Subprocess;
  const unit = () => join(home, ".config", "systemd", "user", "gotunnel.service");
  const gotunnel = (...args: string[]) => manager.asUser([binary, ...args], env);
  const json = async (...args: string[]) => {
    const result = await gotunnel(...args, "--json");
    if (result.exitCode !== 0)
      throw new Error(`gotunnel ${args.join(" ")}: ${result.exitCode}\n${result.stdout}\n${result.stderr}`);
    return JSON.parse(result.stdout);
  };
  const curl = () =>
    manager.asUser([
      "curl",
      "-sS",
      "--max-time",
      "5",
      "--cacert",
      join(home, "gt", "ca", "rootCA.pem"),
      "-w",
      " %{http_code}",
      "https://web.localhost/",
    ]);
  /** The daemon's pid as the manager sees it (MainPID), 0 when it runs none. */
  const mainPid = async () => {
    const shown = await manager.asUser(["systemctl", "--user", "show", "gotunnel.service", "--property=MainPID"]);
    return Number(shown.stdout.trim().split("=")[1] ?? 0);
  };

  beforeAll(async () => {
    requireBinary();
    scope.defer(cleanupNobodyFiles);
    const dir = nobodyDir();
    plain = copyForNobody(BINARY, nobodyDir());
    home = join(dir, "home");
    const runtimeDir = join(dir, "run");
    for (const made of [home, runtimeDir]) {
      mkdirSync(made, { mode: 0o700 });
      chownSync(made, NOBODY, NOBODY);
    }
    binary = copyForNobody(BINARY, dir);
    expect((await run(["setcap", "cap_net_bind_service=+ep", binary])).exitCode).toBe(0);
    netns = `gt-svc-${crypto.randomUUID().slice(0, 6)}`;
    expect((await run(["ip", "netns", "add", netns])).exitCode).toBe(0);
    scope.defer(async () => {
      // Whatever still runs in the namespace (a daemon started on demand when a test failed) goes with it.
      const pids = (await run(["ip", "netns", "pids", netns])).stdout.split(/\s+/).filter(Boolean);
      for (const pid of pids) process.kill(Number(pid), "SIGKILL");
      await run(["ip", "netns", "del", netns]);
    });
    expect((await run(["ip", "-n", netns, "link", "set", "lo", "up"])).exitCode).toBe(0);
    const serve = `Bun.serve({ hostname: "127.0.0.1", port: ${UPSTREAM_PORT}, fetch: () => new Response("hello from upstream") }); console.log("up");`;
    upstream = Bun.spawn(["nsenter", `--net=/run/netns/${netns}`, "--", process.execPath, "-e", serve], {
      stdout: "pipe",
    });
    scope.defer(() => upstream.kill("SIGKILL"));
    await collect(upstream.stdout as ReadableStream<Uint8Array>).until("up", "upstream");
    manager = await UserManager.start({ uid: NOBODY, gid: NOBODY, home, runtimeDir, netns });
    scope.defer(() => manager.stop());
    env = {
      GOTUNNEL_HOME: join(home, "gt"),
      GOTUNNEL_HOSTS_FILE: join(home, "hosts"),
      GOTUNNEL_LAN: "0",
      GOTUNNEL_ADMIN_PORT: "0",
      NO_COLOR: "1",
    };
  }, 60_000);

  afterAll(() => scope.dispose());

  test("without the capability, install stops before writing anything and names the one sudo command", async () => {
    const result = await manager.asUser([plain, "service", "install", "--json"], env);
    expect(result.exitCode).toBe(4);
    const { error } = JSON.parse(result.stdout);
    expect(error.code).toBe("E_PORT_PRIVILEGED");
    expect(error.message).toBe("the daemon cannot listen on 443 and 80 as you");
    expect(error.hint).toContain(`Run \`sudo setcap cap_net_bind_service=+ep ${plain}\` once`);
    expect(existsSync(join(home, ".config"))).toBe(false);
  });

  test("install writes a unit systemd accepts, and its daemon runs as nobody on 443 and 80", async () => {
    // A profile exported for a project is none of the user file's: install reads the config as its daemon will.
    const installed = await manager.asUser([binary, "service", "install", "--json"], {
      ...env,
      GOTUNNEL_PROFILE: "demo",
    });
    expect(installed.exitCode).toBe(0);
    const report = JSON.parse(installed.stdout);
    expect(report).toMatchObject({
      kind: "systemd user unit",
      file: unit(),
      changed: true,
      ports: { https: 443, http: 80 },
      daemon: { ports: { https: 443, http: 80 } },
      logs: "journalctl --user -u gotunnel",
    });
    expect(report.portAccess).toContain(`${binary} has cap_net_bind_service`);
    const verify = await manager.asUser(["systemd-analyze", "--user", "verify", unit()]);
    expect(verify.stderr).toBe("");
    expect(verify.exitCode).toBe(0);
    const pid = await mainPid();
    expect(pid).toBe(report.daemon.pid);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe(String(NOBODY));
    const shown = await manager.asUser([
      "systemctl",
      "--user",
      "show",
      "gotunnel.service",
      "--property=ExecStart,UnitFileState",
    ]);
    expect(shown.stdout).toContain(
      `path=${binary} ; argv[]=${binary} daemon --proxy-https-port=443 --proxy-http-port=80 ;`,
    );
    expect(shown.stdout).toContain("UnitFileState=enabled");
    expect(readFileSync(unit(), "utf8")).not.toContain("GOTUNNEL_PROFILE");
  }, 60_000);

  test("a route added by any command is served by the service's daemon over https on 443", async () => {
    expect((await gotunnel("start", "-d", "web.localhost", "-p", String(UPSTREAM_PORT))).exitCode).toBe(0);
    expect((await curl()).stdout).toBe("hello from upstream 200");
  });

  test("status: running, since when, as nobody, its ports and where its logs are", async () => {
    const report = await json("service", "status");
    expect(report).toMatchObject({
      kind: "systemd user unit",
      user: "nobody",
      service: { installed: true, running: true, logs: "journalctl --user -u gotunnel" },
      daemon: { ports: { https: 443, http: 80 } },
    });
    expect(report.service.pid).toBe(report.daemon.pid);
    expect(Date.parse(report.service.since)).toBeGreaterThan(0);
  });

  test("install again changes nothing", async () => {
    const before = await mainPid();
    expect((await json("service", "install")).changed).toBe(false);
    expect(await mainPid()).toBe(before);
  }, 30_000);

  test("after a crash (SIGKILL) systemd starts the daemon again, with its saved route", async () => {
    const crashed = await mainPid();
    process.kill(crashed, "SIGKILL");
    // RestartSec=5s, then the daemon starts in well under a second.
    const next = await eventually(
      async () => {
        const pid = await mainPid();
        return pid > 0 && pid !== crashed ? pid : undefined;
      },
      "a new daemon",
      20_000,
    );
    expect(next).not.toBe(crashed);
    await eventually(
      async () => ((await curl()).stdout === "hello from upstream 200" ? true : undefined),
      "the route served again",
      10_000,
    );
  }, 40_000);

  test("uninstall stops the daemon and leaves no file of the service behind", async () => {
    const pid = await mainPid();
    const report = await json("service", "uninstall");
    expect(report).toEqual({ kind: "systemd user unit", changed: true, removed: [unit()] });
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    // Only gotunnel's own data dir (GOTUNNEL_HOME) and the hosts file remain; .config and all below it are gone.
    expect(readdirSync(home).sort()).toEqual(["gt", "hosts"].filter((name) => existsSync(join(home, name))));
    const shown = await manager.asUser(["systemctl", "--user", "show", "gotunnel.service", "--property=LoadState"]);
    expect(shown.stdout.trim()).toBe("LoadState=not-found");
    expect((await json("service", "status")).service.installed).toBe(false);
  }, 30_000);
});
