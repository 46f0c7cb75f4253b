/**
 * The browser bench's pure parts: the generated app (deterministic, a tree the entry reaches whole, every module
 * counted when it runs, the entry last), the statistics (medians of finished loads, ratios round by round), the
 * options, and the report's verdicts on issue 16's targets.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  appFiles,
  childrenOf,
  DONE_BINDING,
  depthOf,
  FAN_OUT,
  MODULE_BYTES,
  modulePath,
  writeApp,
} from "../../bench/browser/app.ts";
import { FETCH_STREAMS, fetchAll } from "../../bench/browser/fetch-all.ts";
import { parseBrowserOptions } from "../../bench/browser/options.ts";
import { type BrowserRunMeta, renderBrowserMarkdown } from "../../bench/browser/report.ts";
import {
  protocolsOf,
  ratioSummary,
  roundOrder,
  roundRatios,
  type Sample,
  type Series,
  summarize,
} from "../../bench/browser/stats.ts";
import type { BrowserTarget } from "../../bench/browser/target.ts";
import { requireTools } from "../helpers/tools.ts";

const IMPORT = /from "(\.\/[^"]+)"/g;

/** Module paths an app file imports, resolved against its own directory. */
function importsOf(path: string, text: string): string[] {
  const dir = path.slice(0, path.lastIndexOf("/"));
  return [...text.matchAll(IMPORT)].map((match) => `${dir}/${(match[1] as string).slice(2)}`);
}

const samples = (times: (number | null)[], protocol = "h2"): Sample[] =>
  times.map((ms, index) => ({
    round: index + 1,
    ms,
    foreignCpuPercent: 0,
    ...(ms === null ? { error: "timed out" } : { protocols: { [protocol]: 10 } }),
  }));

const work = mkdtempSync(join(tmpdir(), "gotunnel-bench-browser-test-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("bench:browser app", () => {
  test("1,500 modules: index.html plus one file each, the same bytes every time, about MODULE_BYTES each", () => {
    const files = appFiles(1500);
    expect(Object.keys(files)).toHaveLength(1501);
    expect(files).toEqual(appFiles(1500));
    expect(files["index.html"]).toContain('<script type="module" src="/src/main.js"></script>');
    for (const [path, text] of Object.entries(files)) {
      if (path.startsWith("src/m/")) expect(Math.abs(text.length - MODULE_BYTES)).toBeLessThan(10);
    }
    expect(new Set(Object.values(files)).size).toBe(1501);
  });

  test("the entry reaches every module exactly once through imports that exist, 7 levels deep", () => {
    const files = appFiles(1500);
    const seen = new Map<string, number>();
    let level = ["src/main.js"];
    let depth = 0;
    while (level.length > 0) {
      depth++;
      const next: string[] = [];
      for (const path of level) {
        for (const imported of importsOf(path, files[path] as string)) {
          expect(files[imported]).toBeDefined();
          seen.set(imported, (seen.get(imported) ?? 0) + 1);
          next.push(imported);
        }
      }
      level = next;
    }
    expect(seen.size).toBe(1499);
    expect([...seen.values()].every((count) => count === 1)).toBe(true);
    expect(depth).toBe(7);
    expect(depthOf(1500)).toBe(7);
    expect(depthOf(2)).toBe(2);
    expect(childrenOf(0, 1500)).toEqual([1, 2, 3, 4]);
    expect(childrenOf(374, 1500)).toEqual([1497, 1498, 1499]);
    expect(childrenOf(1, 1500)).toHaveLength(FAN_OUT);
  });

  test("run for real, the entry runs last and reports every other module, once", async () => {
    const root = join(work, "app");
    writeApp(root, 60);
    const reports: string[] = [];
    const global = globalThis as Record<string, unknown>;
    global[DONE_BINDING] = (payload: string) => reports.push(payload);
    try {
      await import(join(root, "src/main.js"));
    } finally {
      delete global[DONE_BINDING];
      delete global.__benchRan;
    }
    expect(reports).toHaveLength(1);
    const result = JSON.parse(reports[0] as string);
    expect(result.ran).toBe(59);
    expect(result.ms).toBeGreaterThan(0);
  });

  test("an app needs an entry and a module", () => {
    expect(() => appFiles(1)).toThrow("at least 2 modules");
  });
});

describe("bench:browser stats", () => {
  test("median and quartiles over the loads that finished; failures counted apart", () => {
    expect(summarize(samples([400, 100, null, 300, 200]))).toEqual({
      q1: 175,
      median: 250,
      q3: 325,
      loads: 4,
      failed: 1,
    });
    expect(summarize(samples([null, null]))).toBeNull();
  });

  test("ratios pair loads of the same round and skip rounds where either failed", () => {
    const gotunnel = samples([100, 200, null, 400]);
    const direct = samples([200, 100, 300, 800]);
    expect(roundRatios(gotunnel, direct)).toEqual([0.5, 2, 0.5]);
    expect(ratioSummary(gotunnel, direct)).toEqual({ q1: 0.5, median: 0.5, q3: 1.25 });
    expect(ratioSummary(samples([null]), direct)).toBeNull();
  });

  test("each round starts one target further, so none always goes first", () => {
    expect(roundOrder(["a", "b", "c"], 1)).toEqual(["b", "c", "a"]);
    expect(roundOrder(["a", "b", "c"], 3)).toEqual(["a", "b", "c"]);
  });

  test("protocols: one name when loads used one, shares when they mixed", () => {
    expect(protocolsOf(samples([1, 2]))).toBe("h2");
    expect(protocolsOf([...samples([1], "h2"), ...samples([1, 2, 3], "http/1.1")])).toBe("http/1.1 75%, h2 25%");
    expect(protocolsOf(samples([null]))).toBe("–");
  });
});

describe("bench:browser options", () => {
  test("defaults: 15 rounds, 2 warm-up loads, 1,500 modules, both conditions, 5 ms, every target", () => {
    const options = parseBrowserOptions([])!;
    expect(options).toMatchObject({ rounds: 15, warmup: 2, modules: 1500, rttMs: 5, conditions: ["loopback", "far"] });
    expect(options.only).toEqual(["direct", "gotunnel", "caddy", "nginx", "portless"]);
    expect(options.binary.endsWith("dist/gotunnel")).toBe(true);
    expect(parseBrowserOptions(["--quick"])).toMatchObject({ rounds: 5, warmup: 1 });
  });

  test("--only keeps direct as the baseline; bad values name the flag and what is valid", () => {
    expect(parseBrowserOptions(["--only", "portless,gotunnel"])!.only).toEqual(["direct", "gotunnel", "portless"]);
    expect(parseBrowserOptions(["--rtt", "20ms", "--conditions", "far"])).toMatchObject({
      rttMs: 20,
      conditions: ["far"],
    });
    expect(() => parseBrowserOptions(["--only", "traefik"])).toThrow('--only: unknown value "traefik"');
    expect(() => parseBrowserOptions(["--conditions", "wifi"])).toThrow("known: loopback, far");
    expect(() => parseBrowserOptions(["--rounds", "0"])).toThrow("--rounds must be an integer ≥ 1");
    expect(() => parseBrowserOptions(["--rtt", "0ms"])).toThrow("--rtt must be above 0");
    expect(parseBrowserOptions(["--help"])).toBeNull();
  });
});

describe("bench:browser report", () => {
  const meta: BrowserRunMeta = {
    startedAt: "2026-12-06T10:00:00Z",
    finishedAt: "2026-12-06T10:20:00Z",
    machine: "2 cores",
    browser: "Chrome/156",
    app: "1,500 ES modules",
    rounds: 4,
    warmup: 1,
    cpuLayout: "pinned",
    farLink: "5 ms round trip added by a delay line",
    rttMs: 5,
    quietWaitedS: 3,
  };
  const series = (
    target: Series["target"],
    condition: Series["condition"],
    times: (number | null)[],
    protocol = "h2",
  ) => ({ target, condition, samples: samples(times, protocol) }) satisfies Series;

  test("the table gives medians with quartiles and ratios to direct; the targets say met or not met", () => {
    const markdown = renderBrowserMarkdown(
      meta,
      [
        { name: "direct", version: "Vite" },
        { name: "nginx", skipped: "nginx is not installed" },
      ],
      [
        series("direct", "loopback", [1000, 1000, 1000, 1000], "http/1.1"),
        series("gotunnel", "loopback", [900, 950, 1000, 1100]),
        series("direct", "far", [3000, 3000, 3000, 3000], "http/1.1"),
        series("gotunnel", "far", [1000, 1400, null, 1500]),
        series("caddy", "far", [1200, 1300, 1200, 1400]),
      ],
    );
    expect(markdown).toContain("| direct | http/1.1 | 1.00 s (1.00 s–1.00 s) | 1.00 | 3.00 s (3.00 s–3.00 s) | 1.00 |");
    expect(markdown).toContain(
      "| gotunnel | h2 | 975 ms (938 ms–1.02 s) | 0.97 (0.94–1.02) | 1.40 s (1.20 s–1.45 s, 1 failed) | 0.47 (0.40–0.48) |",
    );
    expect(markdown).toContain(
      "- loopback: gotunnel no slower than direct: gotunnel ÷ direct = 0.97 (0.94–1.02), needs ≤ 1: **met**",
    );
    expect(markdown).toContain(
      "gotunnel at least 2× faster than direct: direct ÷ gotunnel = 2.14 (2.07–2.57), needs ≥ 2: **met**",
    );
    expect(markdown).toContain("no slower than caddy: gotunnel ÷ caddy = 1.07 (0.95–1.07), needs ≤ 1: **not met**");
    expect(markdown).toContain("- 5 ms RTT: gotunnel no slower than nginx: not measured");
    expect(markdown).toContain("- nginx: skipped: nginx is not installed");
    expect(markdown).toContain("- 5 ms RTT, gotunnel, round 3: timed out");
  });

  test("the h2load table (fetches without a browser) gets its own heading, medians and ratios to direct", () => {
    const markdown = renderBrowserMarkdown(
      meta,
      [{ name: "direct", version: "Vite" }],
      [series("direct", "far", [3000, 3000], "http/1.1"), series("gotunnel", "far", [2000, 2000])],
      [series("direct", "far", [1200, 1300], "http/1.1"), series("gotunnel", "far", [400, 390])],
    );
    expect(markdown).toContain(
      `### Without a browser: h2load fetching every module (one connection, ${FETCH_STREAMS} streams`,
    );
    expect(markdown).toContain("| gotunnel | h2 | 395 ms (393 ms–398 ms) | 0.32 (0.31–0.32) |");
    // The browser table above it is untouched.
    expect(markdown).toContain("| gotunnel | h2 | 2.00 s (2.00 s–2.00 s) | 0.67 (0.67–0.67) |");
  });
});

const h2load = requireTools("h2load");

describe.skipIf(h2load.skip)(h2load.title("bench:browser fetches without a browser"), () => {
  const modules = 40;
  const dir = mkdtempSync(join(tmpdir(), "bench-fetch-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const direct = (port: number) =>
    ({
      name: "direct",
      url: (address) => `http://${address}:${port}/`,
      caPath: null,
      version: "",
      stop: async () => {},
    }) satisfies BrowserTarget;

  test("h2load fetches every module once over HTTP/1.1 and reports its time and protocol", async () => {
    const seen = new Set<string>();
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req) => {
        seen.add(new URL(req.url).pathname);
        return new Response("export {};");
      },
    });
    try {
      const sample = await fetchAll({ address: "127.0.0.1", prefix: [] }, direct(Number(server.port)), modules, dir, 1);
      expect(sample.error).toBeUndefined();
      expect(sample.ms).toBeGreaterThan(0);
      expect(sample.protocols).toEqual({ "http/1.1": modules });
      expect(seen).toEqual(new Set(Array.from({ length: modules }, (_, index) => `/${modulePath(index)}`)));
    } finally {
      server.stop(true);
    }
  });

  test("answers that are not 2xx fail the fetch, with the count", async () => {
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req) => new Response("", { status: req.url.endsWith("7.js") ? 404 : 200 }),
    });
    try {
      const sample = await fetchAll({ address: "127.0.0.1", prefix: [] }, direct(Number(server.port)), modules, dir, 1);
      expect(sample.ms).toBeNull();
      expect(sample.error).toStartWith(`${modules - 4} of ${modules} answers were 2xx`);
    } finally {
      server.stop(true);
    }
  });
});
