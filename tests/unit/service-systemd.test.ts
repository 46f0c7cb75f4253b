/**
 * The systemd user unit through the command-runner seam: the exact systemctl argv of install (fresh, again, changed),
 * status and uninstall, the unit's text and quoting, and that uninstall leaves the home as install found it. The
 * unit is verified by systemd itself in tests/integration/service-files.test.ts and run by a real user manager in
 * tests/integration/service-systemd.test.ts.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isGotunnelError } from "../../src/core/errors.ts";
import type { ServiceContext, ServiceSpec } from "../../src/platform/service/index.ts";
import { execWord, parseShow, renderUnit, showTimestamp, systemdService } from "../../src/platform/service/systemd.ts";
import { type Answer, scriptedRunner } from "../helpers/scripted-runner.ts";

const temps: string[] = [];
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function home(): string {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-systemd-"));
  temps.push(dir);
  return dir;
}

const SPEC: ServiceSpec = {
  program: "/usr/local/bin/gotunnel",
  args: ["daemon", "--proxy-https-port=443", "--proxy-http-port=80"],
  env: { GOTUNNEL_HOME: "/home/ada/gt home" },
  workingDir: "/home/ada/.local/state/gotunnel",
};

function context(
  dir: string,
  answer: (argv: string[]) => Answer,
): ServiceContext & { runner: ReturnType<typeof scriptedRunner> } {
  return {
    runner: scriptedRunner(answer),
    home: dir,
    env: {},
    uid: 1000,
    user: "ada",
    readText: () => undefined,
    selfExe: SPEC.program,
    stateDir: SPEC.workingDir,
  };
}

const ACTIVE =
  "LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=812\nExecMainStartTimestamp=Sun 2026-12-06 21:30:35 UTC\nUnitFileState=enabled\n";

describe("systemd user unit", () => {
  test("install on a fresh home writes the unit, then daemon-reload, enable and restart, in that order", async () => {
    const dir = home();
    const ctx = context(dir, () => undefined);
    const result = await systemdService(ctx).install(SPEC);
    const file = join(dir, ".config", "systemd", "user", "gotunnel.service");
    expect(result).toEqual({ changed: true, files: [file] });
    expect(ctx.runner.lines()).toEqual([
      "systemctl --user show --property=Version",
      "systemctl --user daemon-reload",
      "systemctl --user enable gotunnel.service",
      "systemctl --user restart gotunnel.service",
    ]);
    expect(readFileSync(file, "utf8")).toBe(
      renderUnit(SPEC, [
        join(dir, ".config"),
        join(dir, ".config", "systemd"),
        join(dir, ".config", "systemd", "user"),
        join(dir, ".config", "systemd", "user", "default.target.wants"),
      ]),
    );
  });

  test("install again with the same spec while it runs changes nothing and runs no command that changes state", async () => {
    const dir = home();
    await systemdService(context(dir, () => undefined)).install(SPEC);
    const ctx = context(dir, (argv) => (argv.includes("gotunnel.service") ? { stdout: ACTIVE } : undefined));
    expect(await systemdService(ctx).install(SPEC)).toEqual({ changed: false, files: [expect.any(String)] });
    expect(ctx.runner.lines()).toEqual([
      "systemctl --user show --property=Version",
      "systemctl --user show gotunnel.service --property=LoadState,ActiveState,SubState,MainPID,ExecMainStartTimestamp,UnitFileState",
    ]);
    // Read in UTC, so the timestamp is the same wherever the test runs.
    expect(ctx.runner.calls[1]?.env).toEqual({ TZ: "UTC" });
  });

  test("install with changed flags rewrites the unit and restarts it", async () => {
    const dir = home();
    await systemdService(context(dir, () => undefined)).install(SPEC);
    const ctx = context(dir, (argv) => (argv.includes("gotunnel.service") ? { stdout: ACTIVE } : undefined));
    const changed = { ...SPEC, args: ["daemon", "--proxy-https-port=8443", "--proxy-http-port=8080"] };
    expect((await systemdService(ctx).install(changed)).changed).toBe(true);
    expect(ctx.runner.lines().slice(1)).toEqual([
      "systemctl --user daemon-reload",
      "systemctl --user enable gotunnel.service",
      "systemctl --user restart gotunnel.service",
    ]);
    expect(readFileSync(join(dir, ".config/systemd/user/gotunnel.service"), "utf8")).toContain(
      "--proxy-https-port=8443",
    );
  });

  test("without a user manager, install fails with E_SERVICE, says gotunnel still works, and writes nothing", async () => {
    const dir = home();
    const ctx = context(dir, () => ({ code: 1, stderr: "Failed to connect to bus: No medium found" }));
    const error = await systemdService(ctx)
      .install(SPEC)
      .catch((e: unknown) => e);
    expect(isGotunnelError(error) && error.code).toBe("E_SERVICE");
    expect((error as Error).message).toContain("systemctl --user show --property=Version");
    expect(isGotunnelError(error) && error.hint).toContain("starts its daemon on demand");
    expect(readdirSync(dir)).toEqual([]);
  });

  test("uninstall stops and disables it, removes the unit and every directory install made", async () => {
    const dir = home();
    await systemdService(context(dir, () => undefined)).install(SPEC);
    // What `systemctl enable` makes: the wants link's directory.
    mkdirSync(join(dir, ".config/systemd/user/default.target.wants"));
    const ctx = context(dir, () => undefined);
    const result = await systemdService(ctx).uninstall();
    expect(result).toEqual({ changed: true, removed: [join(dir, ".config/systemd/user/gotunnel.service")] });
    expect(ctx.runner.lines()).toEqual([
      "systemctl --user show --property=Version",
      "systemctl --user disable --now gotunnel.service",
      "systemctl --user daemon-reload",
      "systemctl --user reset-failed gotunnel.service",
    ]);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("uninstall keeps directories that were there before install, and their other files", async () => {
    const dir = home();
    mkdirSync(join(dir, ".config", "systemd", "user"), { recursive: true });
    await systemdService(context(dir, () => undefined)).install(SPEC);
    await systemdService(context(dir, () => undefined)).uninstall();
    expect(existsSync(join(dir, ".config", "systemd", "user"))).toBe(true);
    expect(readdirSync(join(dir, ".config", "systemd", "user"))).toEqual([]);
  });

  test("uninstall when nothing is installed runs nothing", async () => {
    const ctx = context(home(), () => undefined);
    expect(await systemdService(ctx).uninstall()).toEqual({ changed: false, removed: [] });
    expect(ctx.runner.calls).toEqual([]);
  });

  test("status: running, since when, its pid and where its logs are", async () => {
    const dir = home();
    await systemdService(context(dir, () => undefined)).install(SPEC);
    const state = await systemdService(context(dir, () => ({ stdout: ACTIVE }))).status();
    expect(state).toEqual({
      installed: true,
      running: true,
      pid: 812,
      since: "2026-12-06T21:30:35.000Z",
      file: join(dir, ".config/systemd/user/gotunnel.service"),
      logs: "journalctl --user -u gotunnel",
      detail: "active (running), enabled",
    });
  });

  test("the unit honours XDG_CONFIG_HOME, as systemd's user manager does", () => {
    const ctx = { ...context("/home/ada", () => undefined), env: { XDG_CONFIG_HOME: "/home/ada/cfg" } };
    expect(systemdService(ctx).file).toBe("/home/ada/cfg/systemd/user/gotunnel.service");
  });
});

describe("unit text", () => {
  test("ExecStart words: plain ones bare; spaces, quotes, backslashes quoted; % and $ doubled everywhere", () => {
    expect(execWord("/usr/local/bin/gotunnel")).toBe("/usr/local/bin/gotunnel");
    expect(execWord("--proxy-https-port=443")).toBe("--proxy-https-port=443");
    expect(execWord("/home/ada/My Apps/gotunnel")).toBe('"/home/ada/My Apps/gotunnel"');
    expect(execWord('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(execWord("100%")).toBe('"100%%"');
    expect(execWord("$HOME")).toBe('"$$HOME"');
  });

  test("the unit restarts on failure only, starts at login, and carries the environment quoted", () => {
    const text = renderUnit(SPEC);
    expect(text).toContain("ExecStart=/usr/local/bin/gotunnel daemon --proxy-https-port=443 --proxy-http-port=80\n");
    expect(text).toContain('Environment="GOTUNNEL_HOME=/home/ada/gt home"\n');
    expect(text).toContain("Restart=on-failure\n");
    expect(text).toContain("WantedBy=default.target\n");
    expect(text).toContain("WorkingDirectory=-/home/ada/.local/state/gotunnel\n");
  });

  test("systemctl show output and its UTC timestamps", () => {
    expect(parseShow(ACTIVE).MainPID).toBe("812");
    expect(showTimestamp("Sun 2026-12-06 21:30:35 UTC")).toBe("2026-12-06T21:30:35.000Z");
    expect(showTimestamp("n/a")).toBeUndefined();
  });
});
