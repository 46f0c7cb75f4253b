/**
 * Two gotunnel processes creating the CA at once: the creator holds a flock on `<caDir>/.creating` while it writes
 * (tls/ca.ts). A marker nobody holds is a leftover of a creator that died (killed, or a zombie under a non-reaping
 * PID 1), however alive the pid in it looks, and is taken over at once; a marker another live process holds makes the
 * second process wait for that process's CA. Real files, real locks, a real second process.
 */
import "reflect-metadata";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateCA } from "../../src/tls/ca.ts";
import { REPO_ROOT } from "../helpers/e2e.ts";

const root = mkdtempSync(join(tmpdir(), "gotunnel-ca-creation-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let dirs = 0;
const freshDir = () => {
  const dir = join(root, `ca-${++dirs}`);
  mkdirSync(dir, { mode: 0o700 });
  return dir;
};

describe("the CA creation marker", () => {
  test("a leftover marker naming a live pid (pid 1) is taken over at once: the CA is created", async () => {
    const dir = freshDir();
    writeFileSync(join(dir, ".creating"), "1");
    const { created } = await loadOrCreateCA(dir);
    expect(created).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(["rootCA-key.pem", "rootCA.pem"]);
  });

  test("a marker another live process holds makes us wait for that process's CA", async () => {
    const dir = freshDir();
    // The CA the other process will put in place, made beforehand.
    const made = await loadOrCreateCA(freshDir());
    const holder = Bun.spawn(
      [
        process.execPath,
        "-e",
        `
        import { openSync, renameSync, copyFileSync, unlinkSync } from "node:fs";
        import { fileLocks } from ${JSON.stringify(join(REPO_ROOT, "src/platform/flock.ts"))};
        const [dir, key, cert] = process.argv.slice(1);
        const fd = openSync(dir + "/.creating", "wx", 0o600);
        if (!fileLocks().tryLock(fd, "exclusive")) throw new Error("could not lock");
        console.log("locked");
        for await (const _ of console) break;
        copyFileSync(key, dir + "/.k"); renameSync(dir + "/.k", dir + "/rootCA-key.pem");
        copyFileSync(cert, dir + "/.c"); renameSync(dir + "/.c", dir + "/rootCA.pem");
        unlinkSync(dir + "/.creating");
        `,
        dir,
        made.ca.keyPath,
        made.ca.certPath,
      ],
      { stdin: "pipe", stdout: "pipe", stderr: "inherit" },
    );
    const reader = holder.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain("locked");
    const waiting = loadOrCreateCA(dir);
    // Give loadOrCreateCA time to find the marker held and start waiting, then let the holder finish.
    await Bun.sleep(100);
    holder.stdin.write("go\n");
    await holder.stdin.end();
    const { ca, created } = await waiting;
    expect(await holder.exited).toBe(0);
    expect(created).toBe(false);
    expect(ca.commonName).toBe(made.ca.commonName);
    expect(existsSync(join(dir, ".creating"))).toBe(false);
  });
});
