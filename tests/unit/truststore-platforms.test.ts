/**
 * macOS keychain, Windows current-user Root store, the Windows store from WSL, and the Java keystore, through the
 * command-runner seam: the exact argv each one runs, how each reads "already there", and the inverse.
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import type { OsInfo } from "../../src/platform/detect.ts";
import type { CommandRunner, RunOptions, RunResult } from "../../src/platform/runner.ts";
import { keychainStore, parseSha1Hashes, parseTrustSettings } from "../../src/tls/truststore/darwin.ts";
import { applyTrust, storeContext } from "../../src/tls/truststore/index.ts";
import { findCacerts, javaStore, parseKeytoolList } from "../../src/tls/truststore/java.ts";
import type { TrustedCA } from "../../src/tls/truststore/types.ts";
import { windowsStore } from "../../src/tls/truststore/windows.ts";
import { WINDOWS_CERTUTIL, wslWindowsStore } from "../../src/tls/truststore/wsl.ts";

const DER = Buffer.from("000102030405060708090a", "hex");
const CA: TrustedCA = {
  certPem: `-----BEGIN CERTIFICATE-----\n${DER.toString("base64")}\n-----END CERTIFICATE-----\n`,
  certPath: "/Users/ada/Library/Application Support/gotunnel/ca/rootCA.pem",
  commonName: "gotunnel local CA ada@mac (1a2b3c4d)",
  fingerprintSha256: createHash("sha256").update(DER).digest("hex"),
};
const SHA1 = createHash("sha1").update(DER).digest("hex").toUpperCase();

type Reply = (argv: string[], options: RunOptions) => Partial<RunResult> | undefined;

function fake(os: OsInfo, programs: Record<string, string>, reply: Reply = () => undefined, home = "/Users/ada") {
  const calls: string[][] = [];
  const runner: CommandRunner = {
    which: (program) => programs[program],
    async run(argv, options = {}) {
      calls.push(argv);
      return { code: 0, stdout: "", stderr: "", ...reply(argv, options) };
    },
  };
  return { context: storeContext({ runner, os, home, env: {}, isRoot: false }), calls };
}

const MAC: OsInfo = { platform: "darwin", family: "unknown", distro: undefined, wsl: false };
const WINDOWS: OsInfo = { platform: "win32", family: "unknown", distro: undefined, wsl: false };
const WSL: OsInfo = { platform: "linux", family: "debian", distro: "Ubuntu 24.04", wsl: true };
const KEYCHAIN = "/Users/ada/Library/Keychains/login.keychain-db";

/** `security dump-trust-settings` as macOS prints a root trusted for everything: an empty settings array. */
const dump = (...names: string[]) =>
  `Number of trusted certs = ${names.length}\n${names.map((name, i) => `Cert ${i}: ${name}\n   Number of trust settings : 0\n`).join("")}`;

/** The login keychain as `security` shows it; `cancel` makes the password dialog be dismissed. */
function keychain(options: { cancel?: boolean } = {}) {
  const state = { imported: false, trusted: false };
  return {
    state,
    reply: (argv: string[]): Partial<RunResult> | undefined => {
      const verb = argv[argv.indexOf("security") + 1];
      if (verb === "find-certificate") return state.imported ? { stdout: `SHA-1 hash: ${SHA1}\n` } : { code: 44 };
      if (verb === "dump-trust-settings")
        return state.trusted
          ? { stdout: dump("Corp Root", CA.commonName) }
          : { code: 1, stderr: "No Trust Settings were found." };
      if (verb === "add-trusted-cert") {
        state.imported = true; // imported before the dialog, whatever the user answers
        if (options.cancel)
          return { code: 1, stderr: "SecTrustSettingsSetTrustSettings: The authorization was denied." };
        state.trusted = true;
      }
      if (verb === "delete-certificate") Object.assign(state, { imported: false, trusted: false });
      return undefined;
    },
  };
}

describe("macOS login keychain", () => {
  const find = ["security", "find-certificate", "-a", "-Z", "-c", CA.commonName, KEYCHAIN];

  test("trust: find-certificate by name and SHA-1, add-trusted-cert, then both checks; the dialog is announced", async () => {
    const { context, calls } = fake(MAC, { security: "/usr/bin/security" }, keychain().reply);
    const notices: string[] = [];
    const reports = await applyTrust("trust", CA, [keychainStore(context)], { onElevation: (_, m) => notices.push(m) });
    expect(reports[0]?.status).toBe("changed");
    expect(calls).toEqual([
      find,
      ["security", "add-trusted-cert", "-r", "trustRoot", "-k", KEYCHAIN, CA.certPath],
      find,
      ["security", "dump-trust-settings"],
    ]);
    expect(notices[0]).toContain("login password");
    expect((await applyTrust("trust", CA, [keychainStore(context)]))[0]?.status).toBe("already");
  });

  test("a cancelled password dialog leaves the certificate imported but untrusted: never reported as trusted", async () => {
    const cancelled = keychain({ cancel: true });
    const { context } = fake(MAC, { security: "/usr/bin/security" }, cancelled.reply);
    const store = keychainStore(context);
    expect((await applyTrust("trust", CA, [store]))[0]).toMatchObject({ status: "failed" });
    expect(cancelled.state).toEqual({ imported: true, trusted: false });
    // The next `trust` asks again instead of answering "already"; `untrust` removes the leftover.
    expect(await store.isTrusted(CA)).toBe(false);
    expect((await applyTrust("untrust", CA, [store]))[0]?.status).toBe("changed");
    expect(cancelled.state.imported).toBe(false);
  });

  test("untrust: delete-certificate -Z <sha1> -t (trust settings too); another cert of the same name is not ours", async () => {
    const { context, calls } = fake(MAC, { security: "/usr/bin/security" }, (argv) => {
      if (argv[1] === "find-certificate") return { stdout: `SHA-1 hash: ${"AB".repeat(20)}\nSHA-1 hash: ${SHA1}\n` };
      return argv[1] === "dump-trust-settings" ? { stdout: dump(CA.commonName) } : undefined;
    });
    const store = keychainStore(context);
    expect(await store.isTrusted(CA)).toBe(true);
    await store.uninstall(CA);
    expect(calls.at(-1)).toEqual(["security", "delete-certificate", "-Z", SHA1, "-t", KEYCHAIN]);
    expect(parseSha1Hashes(`SHA-1 hash: ${"ab".repeat(20)}\n`)).toEqual(["AB".repeat(20)]);
  });

  test("dump-trust-settings: no settings (trusted for all) and TrustRoot count, Deny does not", () => {
    const text = [
      "Number of trusted certs = 3",
      "Cert 0: gotunnel local CA ada@mac (1a2b3c4d)",
      "   Number of trust settings : 0",
      "Cert 1: Corp Root",
      "   Number of trust settings : 1",
      "   Trust Setting 0:",
      "      Policy OID            : SSL",
      "      Result Type           : kSecTrustSettingsResultTrustRoot",
      "Cert 2: Evil Root",
      "   Number of trust settings : 1",
      "   Trust Setting 0:",
      "      Policy OID            : SSL",
      "      Result Type           : kSecTrustSettingsResultDeny",
      "",
    ].join("\n");
    expect(parseTrustSettings(text)).toEqual(new Set(["gotunnel local CA ada@mac (1a2b3c4d)", "Corp Root"]));
    expect(parseTrustSettings("SecTrustSettingsCopyCertificates: No Trust Settings were found.\n").size).toBe(0);
  });
});

describe("macOS login keychain under sudo", () => {
  // invokingOwner() believes SUDO_UID only when this process really is root (as `sudo gotunnel trust` is).
  test.skipIf(process.getuid?.() !== 0)(
    "every security command runs as the invoking user (sudo -n -u #uid), never as root",
    async () => {
      const calls: string[][] = [];
      const { reply } = keychain();
      const runner: CommandRunner = {
        which: (program) => (program === "security" ? "/usr/bin/security" : undefined),
        async run(argv) {
          calls.push(argv);
          return { code: 0, stdout: "", stderr: "", ...reply(argv) };
        },
      };
      const env = { SUDO_USER: "ada", SUDO_UID: "501", SUDO_GID: "20" };
      const store = keychainStore(storeContext({ runner, os: MAC, home: "/Users/ada", env, isRoot: true }));
      expect((await applyTrust("trust", CA, [store]))[0]?.status).toBe("changed");
      await store.uninstall(CA);
      const asAda = ["sudo", "-n", "-u", "#501", "--", "security"];
      const findAsAda = [...asAda, "find-certificate", "-a", "-Z", "-c", CA.commonName, KEYCHAIN];
      expect(calls).toEqual([
        findAsAda,
        [...asAda, "add-trusted-cert", "-r", "trustRoot", "-k", KEYCHAIN, CA.certPath],
        findAsAda,
        [...asAda, "dump-trust-settings"],
        [...asAda, "delete-certificate", "-Z", SHA1, "-t", KEYCHAIN],
      ]);
    },
  );
});

describe("Windows current-user Root store", () => {
  test("check by thumbprint, -addstore Root <file>, -delstore Root <sha1>", async () => {
    let present = false;
    const { context, calls } = fake(WINDOWS, { certutil: "C:\\Windows\\System32\\certutil.exe" }, (argv) => {
      if (argv[2] === "-addstore") present = true;
      if (argv[2] === "-delstore") present = false;
      return argv[2] === "-store" && !present ? { code: 0x80092004 & 0xff } : undefined;
    });
    const store = windowsStore(context);
    expect((await applyTrust("trust", CA, [store]))[0]?.status).toBe("changed");
    expect((await applyTrust("trust", CA, [store]))[0]?.status).toBe("already");
    expect((await applyTrust("untrust", CA, [store]))[0]?.status).toBe("changed");
    const certutil = "certutil";
    expect(calls.filter((argv) => argv[2] !== "-store")).toEqual([
      [certutil, "-user", "-addstore", "Root", CA.certPath],
      [certutil, "-user", "-delstore", "Root", SHA1],
    ]);
    expect(calls[0]).toEqual([certutil, "-user", "-store", "Root", SHA1]);
  });
});

describe("the Windows store from WSL", () => {
  test("certutil.exe with the path translated by wslpath -w", async () => {
    const { context, calls } = fake(
      WSL,
      { "certutil.exe": "/mnt/c/Windows/system32/certutil.exe" },
      (argv) => (argv[0] === "wslpath" ? { stdout: "\\\\wsl.localhost\\Ubuntu\\home\\ada\\rootCA.pem\n" } : undefined),
      "/home/ada",
    );
    await wslWindowsStore(context).install({ ...CA, certPath: "/home/ada/rootCA.pem" });
    expect(calls).toEqual([
      ["wslpath", "-w", "/home/ada/rootCA.pem"],
      ["certutil.exe", "-user", "-addstore", "Root", "\\\\wsl.localhost\\Ubuntu\\home\\ada\\rootCA.pem"],
    ]);
  });

  test("falls back to /mnt/c when the Windows PATH is not appended; says how to enable interop otherwise", async () => {
    const { context, calls } = fake(WSL, {}, () => undefined, "/home/ada");
    await wslWindowsStore(context, (path) => path === WINDOWS_CERTUTIL).uninstall(CA);
    expect(calls).toEqual([[WINDOWS_CERTUTIL, "-user", "-delstore", "Root", SHA1]]);
    const missing = await wslWindowsStore(context, () => false).detect();
    expect(missing).toMatchObject({ ok: false, fix: expect.stringContaining("interop") });
  });
});

describe("Java keystore", () => {
  const CACERTS = "/usr/lib/jvm/java-17/lib/security/cacerts";
  const listing = (entries: [string, string][]) =>
    entries
      .map(([alias, sha]) => `${alias}, Nov 24, 2026, trustedCertEntry, \nCertificate fingerprint (SHA-256): ${sha}\n`)
      .join("");
  const colons = (hex: string) => hex.toUpperCase().match(/../g)!.join(":");
  const ours = `gotunnel-${CA.fingerprintSha256.slice(0, 16)}`;

  function java(entries: [string, string][], writable: boolean) {
    const { context, calls } = fake(WSL, { keytool: "/opt/no-such-jdk/bin/keytool" }, (argv) =>
      argv.includes("-list") ? { stdout: listing(entries) } : undefined,
    );
    context.env.JAVA_HOME = "/usr/lib/jvm/java-17";
    const store = javaStore(context, { writable: () => writable, exists: (path) => path === CACERTS });
    return { store, calls };
  }

  test("parses keytool -list, and finds cacerts under JAVA_HOME", () => {
    expect(parseKeytoolList(listing([["debian:x.pem", "AB:CD"]]))).toEqual(new Map([["debian:x.pem", "abcd"]]));
    const { context } = fake(WSL, {});
    context.env.JAVA_HOME = "/usr/lib/jvm/java-17";
    expect(findCacerts(context, "/nonexistent/keytool", (path) => path === CACERTS)).toBe(CACERTS);
  });

  test("install: sudo keytool -importcert when cacerts is root's; the sudo is announced", async () => {
    const { store, calls } = java([], false);
    expect(store.elevation()).toContain("sudo keytool");
    await store.install(CA);
    expect(calls).toEqual([
      [
        "sudo",
        "keytool",
        "-importcert",
        "-noprompt",
        "-keystore",
        CACERTS,
        "-storepass",
        "changeit",
        "-file",
        CA.certPath,
        "-alias",
        ours,
      ],
    ]);
  });

  test("already trusted by fingerprint, under any alias; untrust removes only our alias", async () => {
    const foreign = java([["debian:gotunnel.pem", colons(CA.fingerprintSha256)]], true);
    expect(await foreign.store.isTrusted(CA)).toBe(true);
    expect(await foreign.store.uninstall(CA)).toMatchObject({ changed: false });
    expect(foreign.calls.every((argv) => !argv.includes("-delete"))).toBe(true);

    const mine = java([[ours, colons(CA.fingerprintSha256)]], true);
    expect(mine.store.elevation()).toBeUndefined();
    await mine.store.uninstall(CA);
    expect(mine.calls.at(-1)).toEqual([
      "keytool",
      "-delete",
      "-keystore",
      CACERTS,
      "-storepass",
      "changeit",
      "-alias",
      ours,
    ]);
  });

  test("no keytool: skipped with the reason", async () => {
    const { context } = fake(WSL, {});
    expect(await javaStore(context).detect()).toMatchObject({ ok: false, reason: expect.stringContaining("keytool") });
  });
});
