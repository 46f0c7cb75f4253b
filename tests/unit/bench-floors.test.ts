/**
 * The bench's floors (bench/lib/floors.ts) are read against gotunnel's figures, so a floor that did less than the
 * part it stands for would flatter nothing and mislead everyone: the certificates floor must issue real leaves that
 * a TLS stack accepts from the CA, and the report must say which sample is the median and when a floor was skipped.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { certificateFloorCommand } from "../../bench/lib/floors.ts";
import { floorLines } from "../../bench/lib/footprint.ts";
import { caCertPath, caKeyPath, loadOrCreateCA } from "../../src/tls/ca.ts";
import { requireTools } from "../helpers/tools.ts";

const dir = mkdtempSync(join(tmpdir(), "bench-floors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function openssl(args: string[], stdin?: string): { code: number; out: string } {
  const result = Bun.spawnSync(["openssl", ...args], { stdin: stdin === undefined ? "ignore" : Buffer.from(stdin) });
  return { code: result.exitCode, out: `${result.stdout.toString()}${result.stderr.toString()}` };
}

const opensslTool = requireTools("openssl");

test.skipIf(opensslTool.skip)(
  opensslTool.title("the certificates floor issues one leaf per name, each verified by openssl against the CA"),
  async () => {
    const caDir = join(dir, "ca");
    await loadOrCreateCA(caDir);
    const names = ["shop.local", "api.shop.local"];
    const cmd = await certificateFloorCommand(dir, null, { cert: caCertPath(caDir), key: caKeyPath(caDir) }, names);
    const result = Bun.spawnSync(cmd);
    expect(result.stderr.toString()).toBe("");
    expect(result.exitCode).toBe(0);
    const pems = result.stdout.toString().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    expect(pems).toHaveLength(names.length);
    for (const [i, pem] of pems.entries()) {
      const leaf = join(dir, `leaf-${i}.pem`);
      writeFileSync(leaf, `${pem}\n`);
      const verified = openssl(["verify", "-CAfile", caCertPath(caDir), "-purpose", "sslserver", leaf]);
      expect(verified.out).toContain(": OK");
      expect(openssl(["x509", "-noout", "-ext", "subjectAltName", "-in", leaf]).out).toContain(`DNS:${names[i]}`);
    }
  },
);

test("the memory floors report their medians (MiB, CPU ms a minute) with every sample, or why they were skipped", () => {
  const lines = floorLines({
    daemonKiB: [40 * 1024, 38 * 1024, 45 * 1024],
    clientKiB: [36 * 1024, 37 * 1024, 35 * 1024],
    daemonCpu: [300, 420, 360],
    clientCpu: [120, 60, 90],
  });
  const text = lines.join("\n");
  expect(text).toContain("daemon's parts");
  expect(text).toContain("40.0 MiB (40.0, 38.0, 45.0)");
  expect(text).toContain("36.0 MiB (36.0, 37.0, 35.0)");
  expect(text).toContain("idle CPU 360 ms a minute (300, 420, 360)");
  expect(text).toContain("idle CPU 90 ms a minute (120, 60, 90)");
  expect(text).toContain("idle CPU 360 ms a minute (300, 420, 360)");
  expect(text).toContain("idle CPU 90 ms a minute (120, 60, 90)");
  expect(
    floorLines({
      daemonKiB: [],
      clientKiB: [],
      daemonCpu: [],
      clientCpu: [],
      skipped: "floor-daemon exited early",
    }).join("\n"),
  ).toContain("skipped (floor-daemon exited early)");
  expect(floorLines(undefined)).toEqual([]);
});
