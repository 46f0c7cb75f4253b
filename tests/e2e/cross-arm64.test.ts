/**
 * The linux-arm64 release binary, cross-compiled here, runs `version` under qemu-user (Debian: qemu-user and
 * libc6-arm64-cross). Skipped, with the reason, on machines without them.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { REPO_ROOT } from "../helpers/e2e.ts";

const ARM64_SYSROOT = "/usr/aarch64-linux-gnu";
const qemu = Bun.which("qemu-aarch64");
const missing = !qemu
  ? "qemu-aarch64 (apt: qemu-user)"
  : !existsSync(ARM64_SYSROOT)
    ? "libc6-arm64-cross"
    : !Bun.which("file")
      ? "file (apt: file)"
      : undefined;
const out = mkdtempSync(join(tmpdir(), "gotunnel-arm64-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

test.skipIf(missing !== undefined)(
  `the linux-arm64 binary runs \`version\` under qemu${missing ? ` (skipped: needs ${missing})` : ""}`,
  () => {
    const binary = join(out, "gotunnel-linux-arm64");
    const build = Bun.spawnSync(
      [process.execPath, "scripts/build.ts", "--target", "bun-linux-arm64", "--outfile", binary],
      { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" },
    );
    expect(build.stderr.toString()).not.toContain("Failed to generate bytecode");
    expect(build.exitCode).toBe(0);
    const file = Bun.spawnSync(["file", "-b", binary]).stdout.toString();
    if (file) expect(file).toContain("aarch64");
    const run = Bun.spawnSync([qemu!, "-L", ARM64_SYSROOT, binary, "version", "--json"], { stdout: "pipe" });
    expect(run.exitCode).toBe(0);
    const info = JSON.parse(run.stdout.toString()) as { version: string; platform: string };
    expect(info).toMatchObject({ version: pkg.version, platform: "linux-arm64" });
  },
  180_000,
);
