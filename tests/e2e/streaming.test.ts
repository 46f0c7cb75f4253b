/**
 * Bodies that must stream through the compiled binary: an SSE stream that stays quiet longer than Bun's default
 * idle timeout (10 s), a 1 GiB upload and a 256 MiB download, with the proxy's peak RSS (VmHWM) bounded, which
 * only holds when nothing is buffered whole.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, openSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { E2EScope, type Gotunnel, LineCollector, requireBinary, run } from "../helpers/e2e.ts";
import {
  type ByteUpstream,
  downloadSha256,
  type SseUpstream,
  startByteUpstream,
  startSseUpstream,
} from "../helpers/upstreams.ts";

/** Longer than Bun.serve's default idleTimeout of 10 s, which the proxy must not apply to a quiet stream. */
const SSE_SILENCE_MS = 12_000;
const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const UPLOAD_BYTES = GIB;
const DOWNLOAD_BYTES = 256 * MIB;
const PEAK_RSS_LIMIT_KIB = 300 * 1024;

const scope = new E2EScope();
let gotunnel: Gotunnel;
let sse: SseUpstream;
let bytes: ByteUpstream;

beforeAll(async () => {
  requireBinary();
  sse = startSseUpstream(SSE_SILENCE_MS);
  bytes = startByteUpstream();
  scope.defer(sse.stop);
  scope.defer(bytes.stop);
  const dir = scope.project({
    "gotunnel.config.json": JSON.stringify({ routes: { "events.local": sse.port, "bytes.local": bytes.port } }),
  });
  gotunnel = await scope.up(dir, scope.dir("home"));
});

afterAll(() => scope.dispose());

/** curl's fixed arguments for a proxy route: loopback via --resolve, only the gotunnel CA trusted. */
function curlTo(name: string): { url: string; args: string[] } {
  const port = gotunnel.httpsPort;
  return {
    url: `https://${name}:${port}`,
    args: ["curl", "-sS", "--fail", "--cacert", gotunnel.caPath, "--resolve", `${name}:${port}:127.0.0.1`],
  };
}

const quote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;

describe("server-sent events", () => {
  test(
    "an event, 12 s of silence, then another event: the client gets both, the first one before the silence ends",
    async () => {
      const { url, args } = curlTo("events.local");
      const client = Bun.spawn([...args, "-N", "--max-time", "60", `${url}/events`], {
        stdout: "pipe",
        stderr: "pipe",
        stdin: "ignore",
      });
      scope.defer(() => client.kill("SIGKILL"));
      const lines = new LineCollector(client.stdout);
      await lines.waitFor((line) => line === "data: one", 10_000);
      expect(sse.secondSent).toBe(false);
      await lines.waitFor((line) => line === "data: two", SSE_SILENCE_MS + 20_000);
      expect(await client.exited).toBe(0);
      expect(lines.lines.filter((line) => line.startsWith("data:"))).toEqual(["data: one", "data: two"]);
    },
    SSE_SILENCE_MS + 40_000,
  );
});

describe("large bodies", () => {
  test("a 1 GiB chunked upload arrives whole, and the proxy's peak RSS stays under 300 MiB", async () => {
    const { url, args } = curlTo("bytes.local");
    const upload = [...args, "-T", "-", "-X", "POST", `${url}/upload`].map(quote).join(" ");
    const pipeline = `head -c ${UPLOAD_BYTES} /dev/zero | ${upload}`;
    const result = await run(["bash", "-o", "pipefail", "-c", pipeline], { timeoutMs: 240_000 });
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ bytes: UPLOAD_BYTES });
    expect(bytes.uploads.at(-1)).toBe(UPLOAD_BYTES);
    const peakKiB = gotunnel.peakRssKiB();
    console.log(`gotunnel peak RSS (VmHWM) after a 1 GiB upload: ${(peakKiB / 1024).toFixed(1)} MiB`);
    expect(peakKiB).toBeLessThan(PEAK_RSS_LIMIT_KIB);
  }, 300_000);

  test("a 1 GiB upload with Content-Length (a sparse file) arrives whole, and peak RSS stays under 300 MiB", async () => {
    const file = join(scope.dir("upload"), "one-gib.bin");
    closeSync(openSync(file, "w"));
    truncateSync(file, UPLOAD_BYTES); // sparse: no 1 GiB written to disk
    const { url, args } = curlTo("bytes.local");
    const result = await run([...args, "-T", file, "-X", "POST", `${url}/upload`], { timeoutMs: 240_000 });
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ bytes: UPLOAD_BYTES });
    const peakKiB = gotunnel.peakRssKiB();
    console.log(`gotunnel peak RSS (VmHWM) after a 1 GiB Content-Length upload: ${(peakKiB / 1024).toFixed(1)} MiB`);
    expect(peakKiB).toBeLessThan(PEAK_RSS_LIMIT_KIB);
  }, 300_000);

  test("a 256 MiB download arrives byte-exact, and the proxy's peak RSS stays under 300 MiB", async () => {
    const { url, args } = curlTo("bytes.local");
    const download = [...args, `${url}/download/${DOWNLOAD_BYTES}`].map(quote).join(" ");
    const result = await run(["bash", "-o", "pipefail", "-c", `${download} | sha256sum`], { timeoutMs: 120_000 });
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(result.stdout.split(" ")[0]).toBe(downloadSha256(DOWNLOAD_BYTES));
    const peakKiB = gotunnel.peakRssKiB();
    console.log(`gotunnel peak RSS (VmHWM) after the 256 MiB download: ${(peakKiB / 1024).toFixed(1)} MiB`);
    expect(peakKiB).toBeLessThan(PEAK_RSS_LIMIT_KIB);
  }, 180_000);
});
