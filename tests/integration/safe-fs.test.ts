/**
 * platform/safe-fs.ts on real files. Under sudo is simulated here by the env seam (we are root, SUDO_UID names
 * `nobody`); tests/e2e/sudo.test.ts does it with real sudo and a real user. These cover what that cannot plant as
 * the user on this machine (a hard link to root's file: fs.protected_hardlinks stops users here, not on macOS) and
 * the rules' edges: sticky /tmp-like parents, what handBack leaves alone, links without sudo.
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  closeSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GotunnelError } from "../../src/core/errors.ts";
import { existingOwnedDir, ownedDir, withOwnedDir } from "../../src/platform/safe-fs.ts";

const NOBODY = 65_534;
const IS_ROOT = process.getuid?.() === 0 && process.platform === "linux";
const SUDO = { SUDO_USER: "nobody", SUDO_UID: String(NOBODY), SUDO_GID: String(NOBODY) };
const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-safe-fs-"));
  dirs.push(dir);
  return dir;
}

/** A directory that belongs to nobody, as the invoking user's home would. */
function nobodysDir(): string {
  const dir = tempDir();
  chownSync(dir, NOBODY, NOBODY);
  return dir;
}

function refusal(work: () => unknown): GotunnelError {
  try {
    work();
  } catch (error) {
    if (error instanceof GotunnelError) return error;
    throw error;
  }
  throw new Error("expected a refusal");
}

describe("without sudo", () => {
  test("writeAtomic replaces the file, with its mode, and leaves no temp file", () => {
    const dir = tempDir();
    withOwnedDir(dir, 0o700, (owned) => {
      owned.writeAtomic("state.json", "one", 0o600);
      owned.writeAtomic("state.json", "two", 0o640);
    });
    expect(readdirSync(dir)).toEqual(["state.json"]);
    expect(readFileSync(join(dir, "state.json"), "utf8")).toBe("two");
    expect(statSync(join(dir, "state.json")).mode & 0o777).toBe(0o640);
  });

  test("a link the user made to their own directory is followed; a link at a file is never written through", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "real"));
    symlinkSync("real", join(dir, "gotunnel"));
    withOwnedDir(join(dir, "gotunnel"), 0o700, (owned) => owned.writeAtomic("a", "x", 0o600));
    expect(readFileSync(join(dir, "real", "a"), "utf8")).toBe("x");

    writeFileSync(join(dir, "target"), "kept");
    symlinkSync(join(dir, "target"), join(dir, "real", "daemon.log"));
    const error = refusal(() =>
      withOwnedDir(join(dir, "real"), 0o700, (owned) => owned.openAppend("daemon.log", 0o600)),
    );
    expect(error.message).toBe(
      `${join(dir, "real", "daemon.log")} is a symbolic link: gotunnel never writes its own files through a link`,
    );
    expect(readFileSync(join(dir, "target"), "utf8")).toBe("kept");
  });

  test("existingOwnedDir does not create; writeNew never replaces", () => {
    const dir = tempDir();
    expect(existingOwnedDir(join(dir, "missing"))).toBeUndefined();
    expect(readdirSync(dir)).toEqual([]);
    withOwnedDir(dir, 0o700, (owned) => {
      owned.writeNew("key.pem", "first", 0o600);
      expect(() => owned.writeNew("key.pem", "second", 0o600)).toThrow(expect.objectContaining({ code: "EEXIST" }));
    });
    expect(readFileSync(join(dir, "key.pem"), "utf8")).toBe("first");
    expect(readdirSync(dir)).toEqual(["key.pem"]);
  });
});

describe.skipIf(!IS_ROOT)("under sudo (root, SUDO_UID=nobody)", () => {
  test("missing directories are created one by one as the user's, and files too", () => {
    const home = nobodysDir();
    const target = join(home, ".local", "state", "gotunnel");
    withOwnedDir(target, 0o700, (owned) => owned.writeAtomic("routes.json", "{}", 0o600), SUDO);
    for (const path of [".local", ".local/state", ".local/state/gotunnel", ".local/state/gotunnel/routes.json"]) {
      expect({ path, uid: statSync(join(home, path)).uid }).toEqual({ path, uid: NOBODY });
    }
    expect(statSync(join(home, ".local")).mode & 0o777).toBe(0o700);
  });

  test("a sticky world-writable parent (/tmp) may hold a new directory; a parent of root's may not", () => {
    const sticky = tempDir();
    chmodSync(sticky, 0o1777);
    withOwnedDir(join(sticky, "gotunnel"), 0o700, () => undefined, SUDO);
    expect(statSync(join(sticky, "gotunnel")).uid).toBe(NOBODY);

    const roots = tempDir();
    chmodSync(roots, 0o755);
    const error = refusal(() => ownedDir(join(roots, "gotunnel"), 0o700, SUDO));
    expect(error.message).toBe(
      `cannot create ${join(roots, "gotunnel")}: ${roots} belongs to root, not to nobody who ran sudo, and gotunnel, running as root, creates directories only in nobody's own`,
    );
    expect(error.hint).toContain(`sudo install -d -m 700 -o nobody -g ${NOBODY} ${join(roots, "gotunnel")}`);
    expect(error.exitCode).toBe(8);
    expect(readdirSync(roots)).toEqual([]);
  });

  test("a log hard-linked to root's file is refused and the file stays as it was", () => {
    const home = nobodysDir();
    const victim = join(tempDir(), "victim");
    writeFileSync(victim, "root's\n");
    // A user can do this wherever fs.protected_hardlinks is off (macOS has no such protection).
    linkSync(victim, join(home, "daemon.log"));
    const error = refusal(() => withOwnedDir(home, 0o700, (owned) => owned.openAppend("daemon.log", 0o600), SUDO));
    expect(error.message).toBe(
      `${join(home, "daemon.log")} has 1 other name (hard links) and is not nobody's: gotunnel, running as root, will not write to a file that may be another one elsewhere`,
    );
    expect(readFileSync(victim, "utf8")).toBe("root's\n");
    expect(statSync(victim).uid).toBe(0);
  });

  test("a log root left behind (one name, root's) is handed to the user and appended to", () => {
    const home = nobodysDir();
    writeFileSync(join(home, "daemon.log"), "old\n");
    const fd = withOwnedDir(home, 0o700, (owned) => owned.openAppend("daemon.log", 0o600), SUDO);
    writeSync(fd, "new\n");
    closeSync(fd);
    expect(readFileSync(join(home, "daemon.log"), "utf8")).toBe("old\nnew\n");
    expect(statSync(join(home, "daemon.log")).uid).toBe(NOBODY);
  });

  test("handBack gives only what root made: never a link, a file with other names, or another user's file", () => {
    const home = nobodysDir();
    const outside = join(tempDir(), "root-file");
    writeFileSync(outside, "x");
    writeFileSync(join(home, "made-by-root"), "x");
    symlinkSync(outside, join(home, "link"));
    linkSync(outside, join(home, "hard"));
    writeFileSync(join(home, "someone-elses"), "x");
    chownSync(join(home, "someone-elses"), 1, 1);
    withOwnedDir(
      home,
      0o700,
      (owned) => {
        for (const name of ["made-by-root", "link", "hard", "someone-elses", "missing"]) owned.handBack(name);
      },
      SUDO,
    );
    expect(statSync(join(home, "made-by-root")).uid).toBe(NOBODY);
    expect(lstatSync(join(home, "link")).uid).toBe(0);
    expect(statSync(outside).uid).toBe(0);
    expect(statSync(join(home, "someone-elses")).uid).toBe(1);
  });
});
