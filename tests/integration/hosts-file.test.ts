/**
 * The hosts file on real files: temp files for the atomic replace, mode, owner and no-op checks; child processes
 * running as `nobody` for the permission paths; and the real /etc/hosts path only inside a private mount namespace
 * with a copy bind-mounted over it, so this machine's /etc/hosts is never written (checked byte for byte).
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GotunnelError } from "../../src/core/errors.ts";
import { applyHostsNames, hostsFilePath, readHosts } from "../../src/hosts/index.ts";
import { MountNamespace, mountNamespaceSkipReason } from "../helpers/mount-namespace.ts";
import { cleanupNobodyFiles, compileForNobody } from "../helpers/nobody.ts";
import { requireAll, requireRoot, requireTools } from "../helpers/tools.ts";

const NOBODY_ID = 65_534;
const IS_ROOT = process.getuid?.() === 0;
const HOSTS_MODULE = join(import.meta.dir, "../../src/hosts/index.ts");
const BLOCK = "# gotunnel-start\n127.0.0.1 myapp.local\n::1 myapp.local\n# gotunnel-end\n";
const ORIGINAL = "127.0.0.1\tlocalhost\n# a comment ☃\n10.0.0.1 myapp.local.example.com\n";
const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  cleanupNobodyFiles();
});

/** A temp dir others can enter (mkdtemp makes 0700), so `nobody` can reach the files and the script in it. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-hosts-"));
  chmodSync(dir, 0o755);
  dirs.push(dir);
  return dir;
}

function hostsIn(dir: string, content: string | Buffer = ORIGINAL): string {
  const path = join(dir, "hosts");
  writeFileSync(path, content);
  return path;
}

describe("atomic replace on a temp file", () => {
  test("keeps mode and owner, and replaces the inode", async () => {
    const path = hostsIn(tempDir());
    chmodSync(path, 0o640);
    if (IS_ROOT) chownSync(path, NOBODY_ID, NOBODY_ID);
    const before = statSync(path);
    expect(await applyHostsNames(path, ["myapp.local"])).toEqual({ changed: true, skipped: [], method: "rename" });
    const after = statSync(path);
    expect(readFileSync(path, "utf8")).toBe(ORIGINAL + BLOCK);
    expect(after.ino).not.toBe(before.ino);
    expect(after.mode & 0o7777).toBe(0o640);
    expect([after.uid, after.gid]).toEqual([before.uid, before.gid]);
  });

  test("a no-op writes nothing: same inode, same mtime, same bytes", async () => {
    const path = hostsIn(tempDir(), ORIGINAL + BLOCK);
    const before = statSync(path);
    await Bun.sleep(20);
    expect(await applyHostsNames(path, ["myapp.local", "MyApp.local"])).toEqual({
      changed: false,
      skipped: [],
      method: null,
    });
    const after = statSync(path);
    expect([after.ino, after.mtimeMs, after.ctimeMs]).toEqual([before.ino, before.mtimeMs, before.ctimeMs]);
  });

  test("add then remove gives back the original bytes and leaves no temp file", async () => {
    const dir = tempDir();
    const path = hostsIn(dir);
    await applyHostsNames(path, ["myapp.local", "*.w.local"]);
    expect((await applyHostsNames(path, [])).changed).toBe(true);
    expect(readFileSync(path, "utf8")).toBe(ORIGINAL);
    expect(readdirSync(dir)).toEqual(["hosts"]);
  });

  test("bytes that are not UTF-8 survive", async () => {
    const original = Buffer.from([0x23, 0x20, 0xff, 0xfe, 0xc3, 0x28, 0x0d, 0x0a, 0x80, 0x0a]);
    const path = hostsIn(tempDir(), original);
    await applyHostsNames(path, ["myapp.local"]);
    expect(readFileSync(path).subarray(0, original.length).equals(original)).toBe(true);
    await applyHostsNames(path, []);
    expect(readFileSync(path).equals(original)).toBe(true);
  });

  test("a Windows hosts file (UTF-8 BOM, CRLF, a cp1252 byte) keeps every byte, and the block uses CRLF", async () => {
    const original = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from("# Copyright (c) 1993-2009 Microsoft Corp.\r\n# caf"),
      Buffer.from([0xe9]),
      Buffer.from("\r\n127.0.0.1 localhost\r\n"),
    ]);
    const path = hostsIn(tempDir(), original);
    await applyHostsNames(path, ["myapp.local"], { platform: "win32" });
    const written = readFileSync(path);
    expect(written.subarray(0, original.length).equals(original)).toBe(true);
    const block = written.subarray(original.length).toString("latin1");
    expect(block).toContain("myapp.local");
    expect(
      block
        .split("\n")
        .slice(0, -1)
        .every((line) => line.endsWith("\r")),
    ).toBe(true);
    await applyHostsNames(path, [], { platform: "win32" });
    expect(readFileSync(path).equals(original)).toBe(true);
  });

  test("skipped names are reported and get no entry", async () => {
    const path = hostsIn(tempDir());
    const result = await applyHostsNames(path, ["app.localhost", "*.myapp.local"]);
    expect(result).toEqual({
      changed: false,
      method: null,
      skipped: [
        { name: "app.localhost", reason: "localhost" },
        { name: "*.myapp.local", reason: "wildcard" },
      ],
    });
  });

  test("a missing file is created 0644 when there is something to write, and left missing otherwise", async () => {
    const dir = tempDir();
    const path = join(dir, "hosts");
    expect(await readHosts(path)).toBe("");
    expect((await applyHostsNames(path, [])).changed).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
    await applyHostsNames(path, ["myapp.local"]);
    expect(readFileSync(path, "utf8")).toBe(BLOCK);
    expect(statSync(path).mode & 0o7777).toBe(0o644);
  });

  test("a symlinked hosts file: the target is rewritten, the link stays a link", async () => {
    const dir = tempDir();
    const target = hostsIn(dir);
    const link = join(dir, "link");
    symlinkSync(target, link);
    await applyHostsNames(link, ["myapp.local"]);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, "utf8")).toBe(ORIGINAL + BLOCK);
  });

  test("an invalid name is rejected before the file is touched", async () => {
    const dir = tempDir();
    const path = hostsIn(dir);
    const before = statSync(path);
    const attempt = applyHostsNames(path, ["myapp.local", "evil.local\n127.0.0.1 bank.example"]);
    await expect(attempt).rejects.toBeInstanceOf(GotunnelError);
    await expect(attempt).rejects.toMatchObject({ code: "E_DOMAIN_INVALID" });
    expect(readFileSync(path, "utf8")).toBe(ORIGINAL);
    expect(statSync(path).ino).toBe(before.ino);
    await expect(applyHostsNames(join(dir, "absent"), ["a b.local"])).rejects.toMatchObject({
      code: "E_DOMAIN_INVALID",
    });
    expect(readdirSync(dir)).toEqual(["hosts"]);
  });

  test("a directory in place of the file: E_IO naming the path", async () => {
    const dir = tempDir();
    await expect(applyHostsNames(dir, ["myapp.local"])).rejects.toMatchObject({ code: "E_IO" });
  });
});

describe("hostsFilePath", () => {
  test.each([
    [{}, "linux", "/etc/hosts"],
    [{}, "darwin", "/etc/hosts"],
    [{ SystemRoot: "D:\\WIN" }, "win32", "D:\\WIN\\System32\\drivers\\etc\\hosts"],
    [{}, "win32", "C:\\Windows\\System32\\drivers\\etc\\hosts"],
    [{ GOTUNNEL_HOSTS_FILE: "/tmp/h" }, "linux", "/tmp/h"],
    [{ GOTUNNEL_HOSTS_FILE: "C:\\h" }, "win32", "C:\\h"],
  ] as const)("%j on %s → %s", (env, platform, expected) => {
    expect(hostsFilePath(env, platform)).toBe(expected);
  });
});

interface ScriptOutcome {
  ok: boolean;
  path?: string;
  changed?: boolean;
  method?: string | null;
  code?: string;
  message?: string;
  hint?: string;
}

/** A child that applies names to a path ("-" = the default path) and prints the outcome as JSON. */
function writeScript(dir: string): string {
  const script = join(dir, "apply.ts");
  writeFileSync(
    script,
    `const [path, names] = process.argv.slice(2);
const hosts = await import(${JSON.stringify(HOSTS_MODULE)});
const target = path === "-" ? hosts.hostsFilePath({}, "linux") : path;
try {
  console.log(JSON.stringify({ ok: true, path: target, ...(await hosts.applyHostsNames(target, JSON.parse(names))) }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, code: error.code, message: error.message, hint: error.hint }));
}
`,
  );
  return script;
}

function run(argv: string[]): { exitCode: number; stdout: string; stderr: string } {
  const child = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe", env: { ...process.env, HOME: tmpdir() } });
  return { exitCode: child.exitCode, stdout: child.stdout.toString(), stderr: child.stderr.toString() };
}

/** The apply script compiled once into an executable `nobody` can run wherever the repo lives. */
let applyBinary: string | undefined;

function asNobody(dir: string, path: string, names: string[]): ScriptOutcome {
  const argv = ["setpriv", `--reuid=${NOBODY_ID}`, `--regid=${NOBODY_ID}`, "--clear-groups"];
  const script = writeScript(dir);
  applyBinary ??= compileForNobody(script);
  const result = run([...argv, applyBinary, path, JSON.stringify(names)]);
  if (result.exitCode !== 0) throw new Error(`child failed (${result.exitCode}): ${result.stderr}`);
  return JSON.parse(result.stdout) as ScriptOutcome;
}

const unprivileged = requireRoot("switch to the nobody user");

describe.skipIf(unprivileged.skip)(unprivileged.title("as an unprivileged user (nobody)"), () => {
  test("file writable but directory not: written in place, inode and owner kept", () => {
    const dir = tempDir();
    const path = hostsIn(dir);
    chownSync(path, NOBODY_ID, NOBODY_ID);
    const before = statSync(path);
    expect(asNobody(dir, path, ["myapp.local"])).toMatchObject({ ok: true, changed: true, method: "in-place" });
    const after = statSync(path);
    expect(readFileSync(path, "utf8")).toBe(ORIGINAL + BLOCK);
    expect([after.ino, after.uid, after.mode]).toEqual([before.ino, before.uid, before.mode]);
  });

  test("group-writable file owned by root: a rename could not keep the owner, so in place", () => {
    const dir = tempDir();
    chmodSync(dir, 0o777);
    const path = hostsIn(dir);
    chownSync(path, 0, NOBODY_ID);
    chmodSync(path, 0o664);
    const before = statSync(path);
    expect(asNobody(dir, path, ["myapp.local"])).toMatchObject({ ok: true, method: "in-place" });
    const after = statSync(path);
    expect([after.ino, after.uid, after.gid]).toEqual([before.ino, 0, NOBODY_ID]);
    expect(readdirSync(dir).sort()).toEqual(["apply.ts", "hosts"]);
  });

  test("read-only file: E_IO naming the file and the names, with a sudo hint; file untouched", () => {
    const dir = tempDir();
    const path = hostsIn(dir);
    const outcome = asNobody(dir, path, ["myapp.local", "api.local"]);
    expect(outcome).toMatchObject({ ok: false, code: "E_IO" });
    expect(outcome.message).toBe(
      `Cannot update ${path} (permission denied): api.local and myapp.local will not resolve on this machine.`,
    );
    expect(outcome.hint).toContain("sudo");
    expect(readFileSync(path, "utf8")).toBe(ORIGINAL);
  });

  test("read-only file while removing: names the stale entries", () => {
    const dir = tempDir();
    const path = hostsIn(dir, ORIGINAL + BLOCK);
    const outcome = asNobody(dir, path, []);
    expect(outcome).toMatchObject({ ok: false, code: "E_IO" });
    expect(outcome.message).toContain("stale entries for myapp.local stay in it");
  });
});

const namespace = requireAll(requireRoot("make a private mount namespace"), requireTools("unshare", "getent"));

describe.skipIf(namespace.skip)(namespace.title("the real /etc/hosts path, in a private mount namespace"), () => {
  /** Runs `command` with `copy` bind-mounted over /etc/hosts; refuses to run it unless the mount is in place. */
  function inNamespace(copy: string, command: string) {
    const guard = `[ "$(stat -c %d:%i /etc/hosts)" = "$(stat -c %d:%i ${copy})" ]`;
    const shell = `mount --bind ${copy} /etc/hosts && ${guard} && ${command}`;
    return run(["unshare", "--mount", "--propagation", "private", "sh", "-c", shell]);
  }

  test("written in place (rename over a bind mount fails with EBUSY), resolves, and the real file is unchanged", () => {
    const realBefore = readFileSync("/etc/hosts");
    const dir = tempDir();
    const copy = join(dir, "hosts-copy");
    writeFileSync(copy, realBefore);
    const script = writeScript(dir);
    const bun = process.execPath;

    const added = inNamespace(
      copy,
      `${bun} ${script} - '["myapp.local"]' && getent hosts myapp.local && getent ahostsv4 myapp.local`,
    );
    expect(added.exitCode).toBe(0);
    const [json = "", ...resolved] = added.stdout.trim().split("\n");
    expect(JSON.parse(json)).toEqual({ ok: true, path: "/etc/hosts", changed: true, skipped: [], method: "in-place" });
    // `getent hosts` asks for IPv6 first, so it prints the ::1 line; ahostsv4 shows the 127.0.0.1 one.
    expect(resolved[0]).toMatch(/^::1\s+myapp\.local$/);
    expect(resolved.join("\n")).toMatch(/^127\.0\.0\.1\s+STREAM myapp\.local$/m);
    expect(readFileSync("/etc/hosts").equals(realBefore)).toBe(true);
    expect(readFileSync(copy, "utf8")).toContain(BLOCK);

    const removed = inNamespace(copy, `${bun} ${script} - '[]' && ! getent -s files hosts myapp.local`);
    expect(removed.exitCode).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ ok: true, changed: true, method: "in-place" });
    expect(readFileSync(copy).equals(realBefore)).toBe(true);
    expect(readFileSync("/etc/hosts").equals(realBefore)).toBe(true);
    // Only the file is bind-mounted: the temp file whose rename failed was created in the real /etc, and removed.
    expect(readdirSync("/etc").filter((name) => name.includes(".gotunnel-"))).toEqual([]);
  });
});

const HAS_TMPFS = IS_ROOT && mountNamespaceSkipReason(["setpriv", "dd"]) === undefined;

describe.skipIf(!HAS_TMPFS)("a full disk (a real tmpfs in a private mount namespace)", () => {
  test("in place and growing past its last block: refused before any byte changes, naming the full file system", async () => {
    const dir = tempDir();
    const disk = join(dir, "fs");
    mkdirSync(disk);
    const ns = await MountNamespace.start(`mount -t tmpfs -o size=64k,mode=755 gotunnel-hosts-full ${disk}`);
    try {
      // Exactly one 4 KiB page, so adding the block needs a second one; the directory (root's, 0755) is not
      // writable for nobody, so the write must happen in place.
      const pageOfText = `${ORIGINAL}#${"x".repeat(4096 - Buffer.byteLength(ORIGINAL) - 2)}\n`;
      expect(Buffer.byteLength(pageOfText)).toBe(4096);
      const path = join(disk, "hosts");
      writeFileSync(ns.path(path), pageOfText);
      chownSync(ns.path(path), NOBODY_ID, NOBODY_ID);
      await ns.sh(`dd if=/dev/zero of="$1/filler" bs=4096 2>/dev/null || true`, [disk]);
      applyBinary ??= compileForNobody(writeScript(dir));
      const setpriv = ["setpriv", `--reuid=${NOBODY_ID}`, `--regid=${NOBODY_ID}`, "--clear-groups"];
      const result = await ns.run([...setpriv, applyBinary, path, JSON.stringify(["myapp.local"])]);
      const outcome = JSON.parse(result.stdout) as ScriptOutcome;
      expect(outcome).toMatchObject({ ok: false, code: "E_IO" });
      expect(outcome.message).toBe(
        `the file system holding ${disk} is full (ENOSPC: no space left on the device): could not write ${path}: myapp.local will not resolve on this machine.`,
      );
      expect(readFileSync(ns.path(path), "utf8")).toBe(pageOfText);
    } finally {
      await ns.stop();
    }
  });
});
