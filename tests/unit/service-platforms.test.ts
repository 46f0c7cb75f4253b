/**
 * The LaunchAgent (macOS), the Task Scheduler task (Windows) and the Linux port check through the command-runner
 * seam: the exact launchctl, schtasks, getcap and sudo setcap argv, and what each leaves on disk. The plist and the
 * task XML are parsed and checked against their formats in tests/integration/service-files.test.ts.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchdService, parsePrint, renderPlist } from "../../src/platform/service/launchd.ts";
import {
  effectiveBindCapability,
  getcapGrantsBind,
  linuxPortAccess,
  UNPRIVILEGED_PORT_START_FILE,
} from "../../src/platform/service/linux-ports.ts";
import { serviceSpec } from "../../src/platform/service/spec.ts";
import { parseQuery, taskSchedulerService, windowsArg } from "../../src/platform/service/task-scheduler.ts";
import type { ServiceContext, ServiceSpec } from "../../src/platform/service/types.ts";
import { type Answer, scriptedRunner } from "../helpers/scripted-runner.ts";

const temps: string[] = [];
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempHome(): string {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-svc-"));
  temps.push(dir);
  return dir;
}

function context(home: string, answer: (argv: string[]) => Answer, extra: Partial<ServiceContext> = {}) {
  const runner = scriptedRunner(answer);
  const ctx: ServiceContext = {
    runner,
    home,
    env: {},
    uid: 501,
    user: "ada",
    readText: () => undefined,
    selfExe: "/usr/local/bin/gotunnel",
    stateDir: join(home, "state"),
    ...extra,
  };
  return { ctx, runner };
}

const spec = (home: string): ServiceSpec => ({
  program: "/usr/local/bin/gotunnel",
  args: ["daemon", "--proxy-https-port=443", "--proxy-http-port=80"],
  env: { GOTUNNEL_HOME: join(home, "gt") },
  workingDir: join(home, "state"),
});

const TARGET = "gui/501/dev.gotunnel.daemon";
const NOT_LOADED = {
  code: 113,
  stderr: `Bad request.\nCould not find service "dev.gotunnel.daemon" in domain for user gui: 501`,
};
/** launchctl on a Mac where the agent is not loaded yet: print says so, everything else succeeds. */
const fresh = (argv: string[]): Answer => (argv[1] === "print" ? NOT_LOADED : undefined);

describe("LaunchAgent", () => {
  test("install: plist written, then enable and bootstrap into the user's GUI domain", async () => {
    const home = tempHome();
    const { ctx, runner } = context(home, fresh);
    const result = await launchdService(ctx).install(spec(home));
    const file = join(home, "Library", "LaunchAgents", "dev.gotunnel.daemon.plist");
    expect(result).toEqual({ changed: true, files: [file] });
    expect(runner.lines()).toEqual([
      `launchctl print ${TARGET}`,
      `launchctl enable ${TARGET}`,
      `launchctl bootstrap gui/501 ${file}`,
    ]);
    const text = readFileSync(file, "utf8");
    expect(text).toContain(
      `<key>StandardOutPath</key><string>${join(home, "Library/Logs/gotunnel/daemon.log")}</string>`,
    );
    expect(existsSync(join(home, "Library/Logs/gotunnel"))).toBe(true);
  });

  test("install over a loaded, changed agent boots the old one out first", async () => {
    const home = tempHome();
    await launchdService(context(home, fresh).ctx).install(spec(home));
    const { ctx, runner } = context(home, (argv) =>
      argv[1] === "print" ? { stdout: "\tstate = running\n\tpid = 812\n" } : undefined,
    );
    await launchdService(ctx).install({ ...spec(home), args: ["daemon", "--proxy-https-port=8443"] });
    expect(runner.lines().slice(1)).toEqual([
      `launchctl bootout ${TARGET}`,
      `launchctl enable ${TARGET}`,
      `launchctl bootstrap gui/501 ${join(home, "Library/LaunchAgents/dev.gotunnel.daemon.plist")}`,
    ]);
  });

  test("uninstall boots it out and removes the plist, its log and the directories install made", async () => {
    const home = tempHome();
    await launchdService(context(home, fresh).ctx).install(spec(home));
    writeFileSync(join(home, "Library/Logs/gotunnel/daemon.log"), "a log line\n");
    const { ctx, runner } = context(home, (argv) =>
      argv[1] === "print" ? { stdout: "\tstate = running\n" } : undefined,
    );
    const result = await launchdService(ctx).uninstall();
    expect(runner.lines()).toEqual([`launchctl print ${TARGET}`, `launchctl bootout ${TARGET}`]);
    expect(result.removed).toEqual([
      join(home, "Library/LaunchAgents/dev.gotunnel.daemon.plist"),
      join(home, "Library/Logs/gotunnel/daemon.log"),
    ]);
    expect(readdirSync(home)).toEqual([]);
  });

  test("status reads launchctl print", async () => {
    expect(parsePrint("gui/501/dev.gotunnel.daemon = {\n\tstate = running\n\tpid = 812\n}")).toEqual({
      state: "running",
      pid: 812,
    });
    const home = tempHome();
    await launchdService(context(home, fresh).ctx).install(spec(home));
    const state = await launchdService(context(home, fresh).ctx).status();
    expect(state).toMatchObject({ installed: true, running: false, detail: "not loaded" });
  });

  test("XML special characters in arguments and variables are escaped", () => {
    const text = renderPlist({ ...spec("/h"), env: { A: "x<y&z" } }, "/h/log");
    expect(text).toContain("<string>x&lt;y&amp;z</string>");
  });
});

describe("Task Scheduler task", () => {
  const winEnv = { USERNAME: "ada", USERDOMAIN: "LAPTOP", LOCALAPPDATA: "C:\\Users\\ada\\AppData\\Local" };

  test("install: schtasks /Create from the XML (removed right after), then /Run when it is not running", async () => {
    const home = tempHome();
    let xmlSeen: Buffer | undefined;
    const { ctx, runner } = context(
      home,
      (argv) => {
        if (argv[1] === "/Create") xmlSeen = readFileSync(argv[5]!);
        if (argv[1] === "/Query") return { stdout: '"\\gotunnel","N/A","Ready"\r\n' };
        return undefined;
      },
      { env: winEnv },
    );
    const s = spec(home);
    expect(await taskSchedulerService(ctx).install(s)).toEqual({ changed: true, files: [] });
    const xmlFile = join(s.workingDir, "gotunnel-task.xml");
    expect(runner.lines()).toEqual([
      `schtasks /Create /TN \\gotunnel /XML ${xmlFile} /F`,
      "schtasks /Query /TN \\gotunnel /FO CSV /NH",
      "schtasks /Run /TN \\gotunnel",
    ]);
    expect(existsSync(xmlFile)).toBe(false);
    // UTF-16LE with its byte-order mark, as the declaration says.
    expect([...(xmlSeen ?? Buffer.alloc(0)).subarray(0, 2)]).toEqual([0xff, 0xfe]);
    const text = (xmlSeen ?? Buffer.alloc(0)).subarray(2).toString("utf16le");
    expect(text).toContain("<UserId>LAPTOP\\ada</UserId>");
    expect(text).toContain(`--log-file=${join(s.workingDir, "daemon.log")}`);
  });

  test("uninstall ends and deletes the task; not installed: nothing runs after the query", async () => {
    const home = tempHome();
    const installed = context(home, () => ({ stdout: '"\\gotunnel","N/A","Running"\r\n' }), { env: winEnv });
    expect(await taskSchedulerService(installed.ctx).uninstall()).toEqual({
      changed: true,
      removed: ["Task Scheduler \\gotunnel"],
    });
    expect(installed.runner.lines()).toEqual([
      "schtasks /Query /TN \\gotunnel /FO CSV /NH",
      "schtasks /End /TN \\gotunnel",
      "schtasks /Delete /TN \\gotunnel /F",
    ]);
    const missing = context(home, () => ({ code: 1, stderr: "ERROR: The system cannot find the file specified." }), {
      env: winEnv,
    });
    expect(await taskSchedulerService(missing.ctx).uninstall()).toEqual({ changed: false, removed: [] });
    expect(missing.runner.lines()).toEqual(["schtasks /Query /TN \\gotunnel /FO CSV /NH"]);
  });

  test("arguments are quoted as the C runtime splits them", () => {
    expect(windowsArg("daemon")).toBe("daemon");
    expect(windowsArg("--log-file=C:\\Users\\Ada Lovelace\\log")).toBe('"--log-file=C:\\Users\\Ada Lovelace\\log"');
    expect(windowsArg("C:\\dir with space\\")).toBe('"C:\\dir with space\\\\"');
    expect(windowsArg('say "hi"')).toBe('"say \\"hi\\""');
    expect(parseQuery('"\\gotunnel","N/A","Running"')).toEqual({ status: "Running" });
  });
});

describe("Linux: may the daemon listen on 443 and 80 as the user", () => {
  const status = (capEff: string) => `Name:\tgotunnel\nCapEff:\t${capEff}\n`;
  const reads = (files: Record<string, string>) => (path: string) => files[path];

  test("without the capability: the exact sudo setcap command, and why", async () => {
    const { ctx, runner } = context("/home/ada", () => undefined, {
      uid: 1000,
      readText: reads({ [UNPRIVILEGED_PORT_START_FILE]: "1024\n", "/proc/self/status": status("0000000000000000") }),
    });
    const access = await linuxPortAccess(ctx, [443, 80], "/usr/local/bin/gotunnel");
    expect(access).toMatchObject({
      ok: false,
      ports: [443, 80],
      fix: ["sudo", "setcap", "cap_net_bind_service=+ep", "/usr/local/bin/gotunnel"],
    });
    expect(!access.ok && access.why).toContain("ports 443 and 80 are below 1024");
    // Its own executable: the answer came from /proc/self/status, no getcap.
    expect(runner.calls).toEqual([]);
  });

  test("with the capability on this very binary (CapEff bit 10), or ports above the sysctl, it is allowed", async () => {
    const withCap = context("/h", () => undefined, {
      uid: 1000,
      readText: reads({ "/proc/self/status": status("0000000000000400") }),
    });
    expect((await linuxPortAccess(withCap.ctx, [443, 80], "/usr/local/bin/gotunnel")).ok).toBe(true);
    const sysctl = context("/h", () => undefined, {
      uid: 1000,
      readText: reads({ [UNPRIVILEGED_PORT_START_FILE]: "80\n", "/proc/self/status": status("0") }),
    });
    expect(await linuxPortAccess(sysctl.ctx, [443, 80], "/usr/local/bin/gotunnel")).toMatchObject({ ok: true });
    expect((await linuxPortAccess(sysctl.ctx, [8443, 8080], "/x")).ok).toBe(true);
  });

  test("another binary is asked about with getcap", async () => {
    const { ctx, runner } = context("/h", () => ({ stdout: "/opt/gt/gotunnel cap_net_bind_service=ep\n" }), {
      uid: 1000,
    });
    expect((await linuxPortAccess(ctx, [443], "/opt/gt/gotunnel")).ok).toBe(true);
    expect(runner.lines()).toEqual(["getcap /opt/gt/gotunnel"]);
  });

  test("capability masks and getcap's two output formats", () => {
    expect(effectiveBindCapability(status("000001ffffffffff"))).toBe(true);
    expect(effectiveBindCapability(status("0000000000000800"))).toBe(false);
    expect(getcapGrantsBind("/x cap_net_bind_service=ep")).toBe(true);
    expect(getcapGrantsBind("/x = cap_net_bind_service+ep")).toBe(true);
    expect(getcapGrantsBind("/x cap_net_admin,cap_net_bind_service=eip")).toBe(true);
    expect(getcapGrantsBind("/x cap_net_bind_service=p")).toBe(false);
    expect(getcapGrantsBind("")).toBe(false);
  });
});

describe("what the service runs", () => {
  test("gotunnel daemon with the chosen flags, and only the variables that decide where its files are", () => {
    const made = serviceSpec({
      command: ["/usr/local/bin/gotunnel"],
      flags: ["--proxy-https-port=443", "--proxy-http-port=80"],
      env: { GOTUNNEL_HOME: "/g", XDG_STATE_HOME: "/s", PATH: "/bin", SENTRY_DSN: "https://k@x/1", GOTUNNEL_LAN: "" },
      stateDir: "/g/state",
    });
    expect(made).toEqual({
      program: "/usr/local/bin/gotunnel",
      args: ["daemon", "--proxy-https-port=443", "--proxy-http-port=80"],
      env: { GOTUNNEL_HOME: "/g", XDG_STATE_HOME: "/s" },
      workingDir: "/g/state",
    });
    // From source: bun, then the entry script, then daemon.
    expect(serviceSpec({ command: ["/bun", "/src/main.ts"], flags: [], env: {}, stateDir: "/s" }).args).toEqual([
      "/src/main.ts",
      "daemon",
    ]);
  });
});

test("no login-service module but index.ts reads process.platform (STYLE.md 1)", () => {
  const dir = join(import.meta.dir, "..", "..", "src", "platform", "service");
  const readers = readdirSync(dir).filter((name) => readFileSync(join(dir, name), "utf8").includes("process.platform"));
  expect(readers).toEqual(["index.ts"]);
});

test("macOS: 443 and 80 need no sudo (the daemon takes the wildcard address) and no command runs", async () => {
  const { ctx, runner } = context("/Users/ada", () => undefined);
  const access = await launchdService(ctx).portAccess([443, 80], "/usr/local/bin/gotunnel");
  expect(access).toEqual({
    ok: true,
    how:
      "no sudo needed: macOS 10.14+ lets you listen on 443 and 80 on every address, so the daemon listens there " +
      "and refuses other machines every route that is not shared on the LAN",
  });
  expect(await launchdService(ctx).portAccess([8443, 8080], "/x")).toEqual({
    ok: true,
    how: "ports from 1024 up need no privilege",
  });
  expect(runner.calls).toEqual([]);
});
