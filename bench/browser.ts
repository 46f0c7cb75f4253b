/**
 * `bun run bench:browser`: cold page loads of a generated 1,500-module Vite app in headless Chromium, straight to
 * the Vite dev server and through gotunnel, Caddy, nginx and portless, at loopback and across a link with added
 * round-trip time. See bench/README.md ("Browser benchmark") for what is measured and why.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus as cpuList, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { appFiles, depthOf } from "./browser/app.ts";
import { startCaddy } from "./browser/caddy.ts";
import { Browser } from "./browser/chromium.ts";
import { startGotunnel } from "./browser/gotunnel.ts";
import { type ConditionRig, measureFetches, measureRounds } from "./browser/measure.ts";
import { createLink, type Link, type WireStats } from "./browser/network.ts";
import { startNginx } from "./browser/nginx.ts";
import { type BrowserBenchOptions, type Condition, parseBrowserOptions, USAGE } from "./browser/options.ts";
import { ensurePortless, startPortless } from "./browser/portless.ts";
import { type BrowserRunMeta, renderBrowserJson, renderBrowserMarkdown, type TargetInfo } from "./browser/report.ts";
import { type BrowserTarget, PAGE_HOST, SkipTarget, type TargetContext } from "./browser/target.ts";
import { trustInNss } from "./browser/trust.ts";
import { startVite } from "./browser/vite.ts";
import { type CpuPlan, pinned, pinSelf, planCpus } from "./lib/cpu.ts";
import { canIsolate, isInside, runIsolated } from "./lib/isolate.ts";
import { QuietGate } from "./lib/noise.ts";
import { REPO_ROOT } from "./lib/options.ts";
import { stopAll } from "./lib/proc.ts";

const RESULTS_DIR = join(REPO_ROOT, "bench/results");
const REQUIRED_TOOLS = ["chromium", "certutil", "node", "openssl"];

function progress(line: string): void {
  const elapsedS = Math.round(performance.now() / 1000);
  console.error(`[${String(elapsedS).padStart(4)} s] ${line}`);
}

function machine(): string {
  const model = cpuList()[0]?.model.trim() ?? "unknown CPU";
  const memoryGiB = Math.round(totalmem() / 2 ** 30);
  return `${cpuList().length} cores (${model}), ${memoryGiB} GiB, Linux ${release()}, Bun ${Bun.version}`;
}

function describeCpus(plan: CpuPlan | null): string {
  if (!plan) return "not pinned: the scheduler places the browser and the servers on any core";
  return (
    `pinned with taskset: Vite and every proxy on CPU ${plan.server}; the browser (all its processes), the bench` +
    ` and the far link's delay line on CPU ${plan.client}`
  );
}

function describeApp(modules: number): string {
  const bytes = Object.values(appFiles(modules)).reduce((sum, text) => sum + text.length, 0);
  return `${modules.toLocaleString("en-US")} ES modules, ${depthOf(modules)} levels deep, ${(bytes / 2 ** 20).toFixed(1)} MiB of source`;
}

function describeWire(link: Link, stats: WireStats | null, rttMs: number): string {
  const added = `${rttMs} ms round trip added by a delay line between two TUN devices (the kernel has no netem), browser in its own network namespace`;
  const wire = stats
    ? `; packets left the wire ${stats.latenessUs.p50} µs late at the median, ${stats.latenessUs.p99} µs at p99, ${stats.latenessUs.max} µs at most (${stats.relayed.join(" / ")} packets each way)`
    : "";
  return `${added}; ping over it: ${link.rtt}${wire}`;
}

type Starter = (context: TargetContext) => Promise<BrowserTarget>;

function starters(): Record<Exclude<BrowserBenchOptions["only"][number], "direct">, Starter> {
  return {
    gotunnel: startGotunnel,
    caddy: startCaddy,
    nginx: startNginx,
    portless: startPortless,
  };
}

async function startTargets(context: TargetContext, direct: BrowserTarget) {
  const running: BrowserTarget[] = [direct];
  const info: TargetInfo[] = [{ name: "direct", version: direct.version }];
  for (const name of context.options.only) {
    if (name === "direct") continue;
    try {
      const target = await starters()[name](context);
      running.push(target);
      info.push({ name, version: target.version });
      progress(`${name}: started (${target.version})`);
    } catch (error) {
      if (!(error instanceof SkipTarget)) throw error;
      info.push({ name, skipped: error.message });
      progress(`${name}: skipped: ${error.message}`);
    }
  }
  return { running, info };
}

async function launchRig(
  condition: Condition,
  address: string,
  prefix: string[],
  dir: string,
  home: string,
): Promise<{ rig: ConditionRig; browser: Browser }> {
  const browser = await Browser.launch({
    prefix,
    home,
    dir,
    resolverRules: [`MAP ${PAGE_HOST} ${address}`],
    logPath: join(dir, `chromium-${condition}.log`),
  });
  const load = (url: string, timeoutMs: number) => browser.coldLoad(url, timeoutMs);
  return { browser, rig: { condition, address, load, fetch: { address, prefix } } };
}

function writeResults(stamp: string, markdown: string, json: string | null): string[] {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const written = [join(RESULTS_DIR, `browser-${stamp}.md`)];
  writeFileSync(written[0] as string, markdown);
  if (json !== null) {
    written.push(join(RESULTS_DIR, `browser-${stamp}.json`));
    writeFileSync(written[1] as string, json);
  }
  return written;
}

async function measureAll(options: BrowserBenchOptions, dir: string, startedAt: string): Promise<void> {
  const cpus = planCpus(options.pin);
  pinSelf(cpus);
  const inside = isInside();
  const conditions = options.conditions.filter((condition) => condition === "loopback" || inside);
  if (conditions.length < options.conditions.length) {
    progress("the far condition needs the private namespaces (root, without --no-isolate): loopback only");
  }
  // Inside the namespaces the link always exists: portless's LAN mode needs its address even at loopback.
  const link = inside ? await createLink(dir, options.rttMs, cpus) : null;
  if (link) progress(`far link up: ping ${link.rtt}`);
  const bindHost = inside ? "0.0.0.0" : "127.0.0.1";
  const vite = await startVite({ dir, modules: options.modules, bindHost, cpus });
  const context = { options, dir, cpus, vitePort: vite.port, bindHost, linkAddress: link?.serverAddress ?? null };
  const { running, info } = await startTargets(context, vite.direct);
  const home = await trustInNss(
    join(dir, "browser-home"),
    running.flatMap((target) => (target.caPath ? [{ name: target.name, caPath: target.caPath }] : [])),
  );
  const rigs: { rig: ConditionRig; browser: Browser }[] = [];
  for (const condition of conditions) {
    const far = condition === "far" && link;
    const address = far ? link.serverAddress : "127.0.0.1";
    rigs.push(await launchRig(condition, address, pinned(cpus, "client", far ? link.enter : []), dir, home));
  }
  const gate = new QuietGate(options.quietWaitS * 1000);
  progress(`${options.rounds} rounds × ${running.length} targets × ${conditions.join(", ")}`);
  const series = await measureRounds(
    rigs.map((one) => one.rig),
    running,
    options,
    { gate, progress },
  );
  for (const { browser } of rigs) await browser.close();
  const fetches = await measureFetches(
    rigs.map((one) => one.rig),
    running,
    options,
    { gate, progress, dir },
  );
  for (const target of running) await target.stop();
  await vite.stop();
  const wire = link ? await link.stop() : null;
  const meta: BrowserRunMeta = {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: machine(),
    browser: `${rigs[0]?.browser.version ?? "Chromium"} headless, a fresh browser context per load (new connections, an empty cache: a load any resource of which came from a cache fails), every target's CA trusted in its NSS database`,
    app: describeApp(options.modules),
    rounds: options.rounds,
    warmup: options.warmup,
    cpuLayout: describeCpus(cpus),
    farLink: link && conditions.includes("far") ? describeWire(link, wire, options.rttMs) : null,
    rttMs: options.rttMs,
    quietWaitedS: gate.waitedMs / 1000,
  };
  const markdown = renderBrowserMarkdown(meta, info, series, fetches);
  console.log(markdown);
  const stamp = startedAt.replaceAll(":", "-").replace(/\.\d+Z$/, "Z");
  const json = options.json ? renderBrowserJson(meta, info, series, fetches) : null;
  for (const path of writeResults(stamp, markdown, json)) progress(`wrote ${path}`);
}

async function runBench(options: BrowserBenchOptions): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-bench-browser-"));
  // nginx's workers drop to an unprivileged user when started as root and must traverse into the dir.
  chmodSync(dir, 0o711);
  const interrupted = async (signal: string) => {
    progress(`${signal}: stopping everything`);
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.on("SIGINT", () => void interrupted("SIGINT"));
  process.on("SIGTERM", () => void interrupted("SIGTERM"));
  try {
    await measureAll(options, dir, new Date().toISOString());
    if (options.keep) progress(`configs and logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
    return 0;
  } catch (error) {
    progress(`failed: ${(error as Error).stack ?? error}`);
    progress(`configs and logs kept in ${dir}`);
    return 1;
  } finally {
    await stopAll();
  }
}

async function main(argv: string[]): Promise<number> {
  let options: BrowserBenchOptions | null;
  try {
    options = parseBrowserOptions(argv);
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!options) {
    console.log(USAGE);
    return 0;
  }
  const missing = REQUIRED_TOOLS.filter((tool) => !Bun.which(tool));
  if (missing.length > 0) {
    console.error(`missing ${missing.join(", ")}: apt-get install -y chromium libnss3-tools nodejs openssl`);
    return 1;
  }
  // The namespaces have no network but loopback: what comes from the npm registry comes first.
  if (options.only.includes("portless") && !isInside()) await ensurePortless(progress);
  if (options.isolate && !isInside()) {
    if (canIsolate()) return runIsolated(import.meta.path, argv);
    progress("not root or unshare missing: running without namespace isolation (loopback only)");
  }
  return runBench(options);
}

process.exit(await main(Bun.argv.slice(2)));
