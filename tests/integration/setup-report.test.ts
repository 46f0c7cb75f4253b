/**
 * `gotunnel doctor` (setup) from injected facts: each missing piece is reported with the one command that fixes it,
 * and the hosts file is only asked for when a route's name needs it. No daemon runs (a temp GOTUNNEL_HOME's socket
 * does not exist); the login service and trust stores are stand-ins.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostsWriteFix, type SetupInput, setupReport } from "../../src/daemon/setup-report.ts";
import type { OsInfo } from "../../src/platform/detect.ts";
import { hostsSources, localNameResolution } from "../../src/platform/local-names.ts";
import { resolvePaths } from "../../src/platform/paths.ts";
import type { LoginService, PortAccess, ServiceState } from "../../src/platform/service/index.ts";
import type { TrustedCA, TrustStore } from "../../src/tls/truststore/index.ts";
import { scriptedRunner } from "../helpers/scripted-runner.ts";

const dir = mkdtempSync(join(tmpdir(), "gotunnel-setup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DEBIAN: OsInfo = { platform: "linux", family: "debian", distro: "Debian", wsl: false };
const NSSWITCH_MDNS = "passwd: files\nhosts:          files mdns4_minimal [NOTFOUND=return] dns\n";
const CA: TrustedCA = {
  certPem: "",
  certPath: "/ca.pem",
  commonName: "gotunnel CA",
  fingerprintSha256: "ab".repeat(32),
};

function service(state: Partial<ServiceState>, access: PortAccess): LoginService {
  return {
    kind: "systemd user unit",
    file: "/home/ada/.config/systemd/user/gotunnel.service",
    render: () => [],
    install: async () => ({ changed: false, files: [] }),
    status: async () => ({
      installed: true,
      running: true,
      file: "f",
      logs: "journalctl --user -u gotunnel",
      detail: "active (running), enabled",
      ...state,
    }),
    uninstall: async () => ({ changed: false, removed: [] }),
    portAccess: async () => access,
  };
}

function store(id: string, trusted: boolean): TrustStore {
  return {
    id,
    name: id,
    detect: async () => ({ ok: true }),
    isTrusted: async () => trusted,
    elevation: () => undefined,
    install: async () => ({ changed: true }),
    uninstall: async () => ({ changed: true }),
  };
}

function input(overrides: Partial<SetupInput> = {}): SetupInput {
  const files: Record<string, string> = { "/etc/nsswitch.conf": NSSWITCH_MDNS };
  return {
    paths: resolvePaths({ env: { GOTUNNEL_HOME: join(dir, "gt") } }),
    os: DEBIAN,
    service: service({}, { ok: true, how: "/usr/local/bin/gotunnel has cap_net_bind_service" }),
    context: {
      runner: scriptedRunner(),
      home: "/home/ada",
      env: {},
      uid: 1000,
      user: "ada",
      readText: (path) => files[path],
      selfExe: "/usr/local/bin/gotunnel",
      stateDir: join(dir, "gt", "state"),
    },
    ports: { https: 443, http: 80 },
    program: "/usr/local/bin/gotunnel",
    ca: CA,
    stores: [store("system", true), store("nss:chromium", true)],
    hostsFile: join(dir, "no-such-hosts"),
    exists: (path) => path === "/run/avahi-daemon/socket",
    ...overrides,
  };
}

const byName = async (overrides: Partial<SetupInput> = {}) =>
  Object.fromEntries((await setupReport(input(overrides))).map((check) => [check.name, check]));

describe("doctor setup", () => {
  test("everything in place: every check ok", async () => {
    const checks = await setupReport(input());
    expect(checks.map((check) => [check.name, check.ok])).toEqual([
      ["daemon", true],
      ["login service", true],
      ["ports 443 and 80", true],
      ["CA trust", true],
      [".localhost names", true],
      [".local names", true],
      ["hosts file", true],
    ]);
  });

  test("each gap comes with the one command that fixes it", async () => {
    const denied: PortAccess = {
      ok: false,
      ports: [443, 80],
      why: "ports 443 and 80 are below 1024",
      fix: ["sudo", "setcap", "cap_net_bind_service=+ep", "/usr/local/bin/gotunnel"],
    };
    const checks = await byName({
      service: service({ installed: false, running: false, detail: "not installed" }, denied),
      stores: [store("system", true), store("nss:chromium", false)],
      exists: () => false,
    });
    expect(checks["login service"]).toMatchObject({ ok: false, fix: "gotunnel service install" });
    expect(checks["ports 443 and 80"]).toMatchObject({
      ok: false,
      detail: "needs sudo once: ports 443 and 80 are below 1024",
      fix: "sudo setcap cap_net_bind_service=+ep /usr/local/bin/gotunnel",
    });
    expect(checks["CA trust"]).toMatchObject({
      ok: false,
      detail: "not trusted by nss:chromium",
      fix: "gotunnel trust",
    });
    expect(checks[".local names"]).toMatchObject({ ok: false, fix: "sudo systemctl enable --now avahi-daemon" });
    expect((await byName({ ca: undefined }))["CA trust"]).toMatchObject({ ok: false, detail: "no CA yet" });
  });

  test("the hosts file: optional, not needed without other suffixes, else the one ACL step", async () => {
    const readOnly = join(dir, "hosts");
    writeFileSync(readOnly, "127.0.0.1 localhost\n");
    chmodSync(readOnly, 0o444);
    const checks = await byName({ hostsFile: readOnly });
    expect(checks["hosts file"]).toMatchObject({ ok: true, optional: true });
    expect(checks["hosts file"]?.detail).toContain("not needed");
  });
});

describe("the hosts-file step per OS", () => {
  test("Linux setfacl, macOS chmod +a, Windows icacls (read and write for this user on this one file)", () => {
    expect(hostsWriteFix("linux", "ada", "/etc/hosts")).toBe("sudo setfacl -m u:ada:rw /etc/hosts");
    expect(hostsWriteFix("darwin", "ada", "/etc/hosts")).toBe('sudo chmod +a "ada allow write" /etc/hosts');
    expect(hostsWriteFix("win32", "ada", "C:\\Windows\\System32\\drivers\\etc\\hosts")).toBe(
      'icacls "C:\\Windows\\System32\\drivers\\etc\\hosts" /grant "ada:(R,W)"',
    );
  });
});

describe("doctor setup under WSL", () => {
  test("a Windows-browsers check is added under WSL only, reading the Windows hosts file", async () => {
    const read: string[] = [];
    const wsl = input({ os: { ...DEBIAN, wsl: true } });
    const readText = wsl.context.readText;
    wsl.context = {
      ...wsl.context,
      readText: (path) => {
        read.push(path);
        return readText(path);
      },
    };
    const checks = Object.fromEntries((await setupReport(wsl)).map((check) => [check.name, check]));
    expect(checks["Windows browsers"]).toMatchObject({ ok: true, optional: true });
    expect(read).toContain("/mnt/c/Windows/System32/drivers/etc/hosts");
    expect((await byName())["Windows browsers"]).toBeUndefined();
  });
});

describe("do .local names resolve by mDNS here", () => {
  const reads = (text: string) => (path: string) => (path === "/etc/nsswitch.conf" ? text : undefined);
  test("the hosts line of nsswitch.conf", () => {
    expect(hostsSources(NSSWITCH_MDNS)).toEqual(["files", "mdns4_minimal", "[NOTFOUND=return]", "dns"]);
    expect(hostsSources("hosts: files dns # mdns later\n")).toEqual(["files", "dns"]);
  });

  test("Linux without nss-mdns: the distribution's install command; macOS and Windows: built in", () => {
    expect(localNameResolution(DEBIAN, reads("hosts: files dns\n"), () => true)).toEqual({
      ok: false,
      why: "this machine does not ask mDNS for .local names (no mdns in the hosts line of /etc/nsswitch.conf)",
      fix: "sudo apt install libnss-mdns avahi-daemon",
    });
    expect(localNameResolution({ ...DEBIAN, family: "fedora" }, reads(""), () => true)).toMatchObject({
      fix: "sudo dnf install nss-mdns avahi",
    });
    expect(localNameResolution({ ...DEBIAN, platform: "darwin" }, reads(""), () => false).ok).toBe(true);
    expect(localNameResolution(DEBIAN, reads(NSSWITCH_MDNS), () => true).ok).toBe(true);
  });
});
