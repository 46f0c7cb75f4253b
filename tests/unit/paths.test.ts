/** platform/paths.ts: whose home gotunnel works in, and where each directory goes. Pure: passwd file and uid injected. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { invokingUserHome, resolvePaths } from "../../src/platform/paths.ts";

const dir = mkdtempSync(join(tmpdir(), "gotunnel-paths-"));
const passwd = join(dir, "passwd");
writeFileSync(passwd, "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n");

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("invokingUserHome", () => {
  test("root under `sudo` works in the invoking user's home", () => {
    expect(invokingUserHome({ SUDO_USER: "alice" }, passwd, 0)).toBe("/home/alice");
  });

  test("`sudo -u bob` run by alice is bob, for bob: alice's home is not his", () => {
    expect(invokingUserHome({ SUDO_USER: "alice" }, passwd, 1001)).toBeUndefined();
  });

  test("no sudo, sudo to root from root, or an unknown user: none", () => {
    expect(invokingUserHome({}, passwd, 0)).toBeUndefined();
    expect(invokingUserHome({ SUDO_USER: "root" }, passwd, 0)).toBeUndefined();
    expect(invokingUserHome({ SUDO_USER: "mallory" }, passwd, 0)).toBeUndefined();
  });
});

describe("resolvePaths", () => {
  test("XDG layout, and GOTUNNEL_HOME over all of it", () => {
    expect(resolvePaths({ env: {}, platform: "linux", home: "/h" })).toEqual({
      dataDir: "/h/.local/share/gotunnel",
      caDir: "/h/.local/share/gotunnel/ca",
      configDir: "/h/.config/gotunnel",
      stateDir: "/h/.local/state/gotunnel",
      runtimeDir: "/h/.local/state/gotunnel/run",
    });
    expect(resolvePaths({ env: { GOTUNNEL_HOME: "/g" }, platform: "linux", home: "/h" }).runtimeDir).toBe("/g/run");
  });

  test("the runtime dir is the same with and without sudo (sudo drops XDG_RUNTIME_DIR)", () => {
    const desktop = { XDG_RUNTIME_DIR: "/run/user/1000" };
    expect(resolvePaths({ env: desktop, platform: "linux", home: "/h" }).runtimeDir).toBe(
      "/h/.local/state/gotunnel/run",
    );
    expect(resolvePaths({ env: { SUDO_USER: "me" }, platform: "linux", home: "/h" }).runtimeDir).toBe(
      "/h/.local/state/gotunnel/run",
    );
  });

  test("Windows: data, state and the socket under %LOCALAPPDATA%, config under %APPDATA%, with backslashes", () => {
    const env = { LOCALAPPDATA: "C:\\Users\\ada\\AppData\\Local", APPDATA: "C:\\Users\\ada\\AppData\\Roaming" };
    expect(resolvePaths({ env, platform: "win32", home: "C:\\Users\\ada" })).toEqual({
      dataDir: "C:\\Users\\ada\\AppData\\Local\\gotunnel",
      caDir: "C:\\Users\\ada\\AppData\\Local\\gotunnel\\ca",
      configDir: "C:\\Users\\ada\\AppData\\Roaming\\gotunnel",
      stateDir: "C:\\Users\\ada\\AppData\\Local\\gotunnel\\state",
      runtimeDir: "C:\\Users\\ada\\AppData\\Local\\gotunnel\\run",
    });
    // Without the variables (a service started with a bare environment): the same places under the profile.
    const bare = resolvePaths({ env: {}, platform: "win32", home: "C:\\Users\\ada" });
    expect(bare.runtimeDir).toBe("C:\\Users\\ada\\AppData\\Local\\gotunnel\\run");
    expect(bare.configDir).toBe("C:\\Users\\ada\\AppData\\Roaming\\gotunnel");
    expect(resolvePaths({ env: { GOTUNNEL_HOME: "D:\\gt" }, platform: "win32" }).caDir).toBe("D:\\gt\\ca");
  });

  test("macOS: ~/Library/Application Support/gotunnel", () => {
    expect(resolvePaths({ env: {}, platform: "darwin", home: "/Users/ada" }).runtimeDir).toBe(
      "/Users/ada/Library/Application Support/gotunnel/run",
    );
  });
});
