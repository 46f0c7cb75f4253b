/**
 * daemon/control/endpoint.ts: the control socket is an AF_UNIX file on every OS (Windows included: Bun.serve cannot
 * listen on a named pipe), and a Windows path too long for sun_path is refused with a fix before anything binds.
 * The Windows bind itself can only run on the Windows runner (.github/workflows/release.yml).
 */
import { describe, expect, test } from "bun:test";
import { socketPath, WINDOWS_SUN_PATH_BYTES } from "../../src/daemon/control/endpoint.ts";
import { resolvePaths } from "../../src/platform/paths.ts";

describe("control socket path", () => {
  test("POSIX: <runtimeDir>/control.sock, however long (Bun binds long paths there)", () => {
    expect(socketPath("/h/.local/state/gotunnel/run", "linux")).toBe("/h/.local/state/gotunnel/run/control.sock");
    const deep = `/tmp/${"d".repeat(200)}`;
    expect(socketPath(deep, "darwin")).toBe(`${deep}/control.sock`);
  });

  test("Windows: an AF_UNIX file under %LOCALAPPDATA%, not a named pipe", () => {
    const { runtimeDir } = resolvePaths({
      env: { LOCALAPPDATA: "C:\\Users\\ada\\AppData\\Local" },
      platform: "win32",
      home: "C:\\Users\\ada",
    });
    const path = socketPath(runtimeDir, "win32");
    expect(path).toBe("C:\\Users\\ada\\AppData\\Local\\gotunnel\\run\\control.sock");
    expect(path.startsWith("\\\\.\\pipe\\")).toBe(false);
  });

  test("Windows: the longest path that fits binds; one byte more is E_DAEMON with the GOTUNNEL_HOME fix", () => {
    const fixed = "C:\\".length + "\\control.sock".length;
    const fits = `C:\\${"a".repeat(WINDOWS_SUN_PATH_BYTES - 1 - fixed)}`;
    expect(Buffer.byteLength(socketPath(fits, "win32"))).toBe(WINDOWS_SUN_PATH_BYTES - 1);
    const long = `${fits}a`;
    expect(() => socketPath(long, "win32")).toThrow(
      expect.objectContaining({
        code: "E_DAEMON",
        message: expect.stringContaining(`is ${WINDOWS_SUN_PATH_BYTES} bytes`),
        hint: expect.stringContaining("GOTUNNEL_HOME"),
      }),
    );
  });

  test("Windows: bytes, not characters, count (a non-ASCII user name takes more)", () => {
    const name = "é".repeat(40); // 80 bytes in UTF-8
    expect(() => socketPath(`C:\\Users\\${name}\\AppData\\Local\\gotunnel\\run`, "win32")).toThrow(/bytes/);
  });
});
