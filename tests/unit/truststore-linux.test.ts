/**
 * The Linux system store through the command-runner seam: the exact argv (with and without sudo) for every
 * distribution family, check → act → verify, and the exact inverse. A fake runner plays tee, rm and the update tool
 * on temp directories; nothing here touches the machine's store (the real thing runs in
 * tests/integration/truststore-linux.test.ts, inside a mount namespace).
 */
import { afterEach, describe, expect, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LinuxFamily, OsInfo } from "../../src/platform/detect.ts";
import type { CommandRunner, RunOptions, RunResult } from "../../src/platform/runner.ts";
import { applyTrust, storeContext } from "../../src/tls/truststore/index.ts";
import { LINUX_LAYOUTS, type LinuxLayout, linuxSystemStore, ourLinks } from "../../src/tls/truststore/linux.ts";
import type { TrustedCA } from "../../src/tls/truststore/types.ts";

const CA: TrustedCA = {
  certPem: "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n",
  certPath: "/home/ada/.local/share/gotunnel/ca/rootCA.pem",
  commonName: "gotunnel local CA ada@laptop (1a2b3c4d)",
  fingerprintSha256: "1a2b3c4d5e6f70819293a4b5c6d7e8f9".repeat(2),
};
const LABEL = "gotunnel-1a2b3c4d5e6f7081";
const OTHER_PEM = "-----BEGIN CERTIFICATE-----\nCQgHBgUEAwIBAA==\n-----END CERTIFICATE-----\n";

const temps: string[] = [];
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const linux = (family: LinuxFamily): OsInfo => ({ platform: "linux", family, distro: family, wsl: false });

/** Records every argv; plays tee / rm -f / the update tool on the temp layout so the check after acting sees it. */
function fakeRunner(layout: LinuxLayout | undefined, programs: string[]) {
  const calls: { argv: string[]; input?: string }[] = [];
  const runner: CommandRunner = {
    which: (program) => (programs.includes(program) ? `/usr/bin/${program}` : undefined),
    async run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
      calls.push(options.input === undefined ? { argv } : { argv, input: options.input });
      const [command, ...args] = argv[0] === "sudo" ? argv.slice(1) : argv;
      if (layout && command === "tee") writeFileSync(args[0]!, options.input ?? "");
      if (layout && command === "rm") for (const path of args.slice(1)) rmSync(path, { force: true });
      if (layout && command === layout.update[0]) {
        const anchors = readdirSync(layout.anchorDir).map((name) => readFileSync(join(layout.anchorDir, name), "utf8"));
        writeFileSync(layout.bundle, anchors.join(""));
      }
      return { code: 0, stdout: "", stderr: "" };
    },
  };
  return { runner, calls };
}

function tempLayout(): LinuxLayout {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-linux-store-"));
  temps.push(dir);
  mkdirSync(join(dir, "anchors"));
  mkdirSync(join(dir, "certs"));
  writeFileSync(join(dir, "anchors", "corp.crt"), OTHER_PEM);
  return {
    ...LINUX_LAYOUTS.debian,
    anchorDir: join(dir, "anchors"),
    bundle: join(dir, "certs", "bundle.crt"),
    linkDir: join(dir, "certs"),
  };
}

function store(
  layout: LinuxLayout | undefined,
  options: { isRoot: boolean; family?: LinuxFamily; programs?: string[] },
) {
  const programs = options.programs ?? ["update-ca-certificates", "update-ca-trust", "sudo"];
  const fake = fakeRunner(layout, programs);
  const context = storeContext({
    runner: fake.runner,
    os: linux(options.family ?? "debian"),
    home: "/home/ada",
    env: {},
    isRoot: options.isRoot,
  });
  return { store: linuxSystemStore(context, layout), calls: fake.calls };
}

describe("Linux system store, Debian layout on temp dirs", () => {
  test("as root: tee the anchor, update-ca-certificates; twice: nothing; untrust: rm + update, exact inverse", async () => {
    const layout = tempLayout();
    const { store: system, calls } = store(layout, { isRoot: true });
    const anchor = join(layout.anchorDir, `${LABEL}.crt`);
    const before = readdirSync(layout.anchorDir);

    expect((await applyTrust("trust", CA, [system]))[0]?.status).toBe("changed");
    expect(calls).toEqual([{ argv: ["tee", anchor], input: CA.certPem }, { argv: ["update-ca-certificates"] }]);
    expect(readFileSync(anchor, "utf8")).toBe(CA.certPem);
    expect(system.elevation()).toBeUndefined();

    calls.length = 0;
    expect((await applyTrust("trust", CA, [system]))[0]?.status).toBe("already");
    expect(calls).toEqual([]);

    expect((await applyTrust("untrust", CA, [system]))[0]?.status).toBe("changed");
    expect(calls).toEqual([{ argv: ["rm", "-f", anchor] }, { argv: ["update-ca-certificates"] }]);
    expect(readdirSync(layout.anchorDir)).toEqual(before);
    expect(readFileSync(join(layout.anchorDir, "corp.crt"), "utf8")).toBe(OTHER_PEM);
  });

  test("as a user: every command goes through sudo, and the elevation is announced before the first one", async () => {
    const layout = tempLayout();
    const { store: system, calls } = store(layout, { isRoot: false });
    const notices: string[] = [];
    const hooks = { onElevation: (_: unknown, message: string) => notices.push(`${message} @${calls.length}`) };
    await applyTrust("trust", CA, [system], hooks);
    const anchor = join(layout.anchorDir, `${LABEL}.crt`);
    expect(calls.map((call) => call.argv)).toEqual([
      ["sudo", "tee", anchor],
      ["sudo", "update-ca-certificates"],
    ]);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain("sudo update-ca-certificates");
    expect(notices[0]).toEndWith("@0"); // said before any command ran
  });

  test("a half-done trust (anchor written, bundle not rebuilt) is finished by trust and removed by untrust", async () => {
    const layout = tempLayout();
    const { store: system, calls } = store(layout, { isRoot: true });
    writeFileSync(join(layout.anchorDir, `${LABEL}.crt`), CA.certPem);
    expect(await system.isTrusted(CA)).toBe(false);
    expect((await applyTrust("untrust", CA, [system]))[0]?.status).toBe("changed");
    expect(existsSync(join(layout.anchorDir, `${LABEL}.crt`))).toBe(false);
    writeFileSync(join(layout.anchorDir, `${LABEL}.crt`), CA.certPem);
    calls.length = 0;
    expect((await applyTrust("trust", CA, [system]))[0]?.status).toBe("changed");
    expect(calls.map((call) => call.argv)).toEqual([["update-ca-certificates"]]); // the anchor was already right
  });

  test("an anchor file with our name but another certificate is left alone", async () => {
    const layout = tempLayout();
    const { store: system } = store(layout, { isRoot: true });
    writeFileSync(join(layout.anchorDir, `${LABEL}.crt`), OTHER_PEM);
    expect(await system.uninstall(CA)).toEqual({
      changed: false,
      reason: expect.stringContaining("another certificate"),
    });
    expect(readFileSync(join(layout.anchorDir, `${LABEL}.crt`), "utf8")).toBe(OTHER_PEM);
  });

  test("the Debian links update-ca-certificates leaves behind are ours; nobody else's are", () => {
    const layout = tempLayout();
    const anchor = join(layout.anchorDir, `${LABEL}.crt`);
    symlinkSync(anchor, join(layout.linkDir!, `${LABEL}.pem`));
    symlinkSync(`${LABEL}.pem`, join(layout.linkDir!, "abbe10d8.0"));
    symlinkSync(join(layout.anchorDir, "corp.crt"), join(layout.linkDir!, "corp.pem"));
    symlinkSync("corp.pem", join(layout.linkDir!, "12345678.0"));
    writeFileSync(join(layout.linkDir!, "ca-certificates.crt"), OTHER_PEM);
    expect(ourLinks(layout, anchor)).toEqual([
      join(layout.linkDir!, "abbe10d8.0"),
      join(layout.linkDir!, `${LABEL}.pem`),
    ]);
  });
});

describe("each family's documented paths and commands (argv only)", () => {
  const cases: [LinuxFamily, string, string[]][] = [
    ["debian", `/usr/local/share/ca-certificates/${LABEL}.crt`, ["update-ca-certificates"]],
    ["alpine", `/usr/local/share/ca-certificates/${LABEL}.crt`, ["update-ca-certificates"]],
    ["fedora", `/etc/pki/ca-trust/source/anchors/${LABEL}.pem`, ["update-ca-trust", "extract"]],
    ["arch", `/etc/ca-certificates/trust-source/anchors/${LABEL}.crt`, ["update-ca-trust"]],
    ["suse", `/etc/pki/trust/anchors/${LABEL}.pem`, ["update-ca-certificates"]],
  ];
  for (const [family, anchor, update] of cases) {
    test(`${family}: sudo tee ${anchor}; sudo ${update.join(" ")}`, async () => {
      // A runner that records only: the real paths are never written.
      const calls: string[][] = [];
      const runner: CommandRunner = {
        which: () => "/usr/bin/x",
        run: async (argv) => {
          calls.push(argv);
          return { code: 0, stdout: "", stderr: "" };
        },
      };
      const context = storeContext({ runner, os: linux(family), home: "/home/ada", env: {}, isRoot: false });
      const system = linuxSystemStore(context);
      await system.install(CA);
      expect(calls).toEqual([
        ["sudo", "tee", anchor],
        ["sudo", ...update],
      ]);
    });
  }
});

describe("detect: the reason and the exact install command", () => {
  test("missing update tool → the package manager command for the family", async () => {
    const layout = tempLayout();
    const debian = store(layout, { isRoot: true, programs: [] }).store;
    expect(await debian.detect()).toEqual({
      ok: false,
      reason: "update-ca-certificates is not installed",
      fix: "sudo apt install ca-certificates",
    });
    const fedora = store(undefined, { isRoot: true, family: "fedora", programs: [] }).store;
    expect(await fedora.detect()).toMatchObject({ fix: "sudo dnf install ca-certificates" });
    const arch = store(undefined, { isRoot: true, family: "arch", programs: [] }).store;
    expect(await arch.detect()).toMatchObject({ fix: "sudo pacman -S ca-certificates-utils" });
  });

  test("unknown distribution, and no sudo for a normal user", async () => {
    expect(await store(undefined, { isRoot: true, family: "unknown" }).store.detect()).toMatchObject({ ok: false });
    const layout = tempLayout();
    const noSudo = store(layout, { isRoot: false, programs: ["update-ca-certificates"] }).store;
    expect(await noSudo.detect()).toMatchObject({
      ok: false,
      reason: expect.stringContaining("sudo is not installed"),
    });
    expect(await store(layout, { isRoot: false }).store.detect()).toEqual({ ok: true });
  });
});
