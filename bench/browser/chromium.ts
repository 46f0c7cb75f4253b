/**
 * Headless Chromium driven over its DevTools pipe (cdp.ts): one browser per network condition, and every page load
 * in a browser context of its own (Target.createBrowserContext: its own cookie jar, HTTP cache, socket pools and TLS
 * session cache), so each load is cold: new connections, full TLS handshakes, an empty cache. The page proves it:
 * the entry counts resources that came from a cache (app.ts), and such a load fails.
 *
 * Why not Network.setCacheDisabled: it only takes effect while the Network domain is enabled (checked: without
 * Network.enable a max-age response is served from the cache on the next load), and with the Network domain on,
 * DevTools reports every request to the bench; on this machine that made a 1,500-module load about 30% slower
 * (loopback, direct: 4.2 s against 3.1 s, medians of 6 interleaved loads), browser-side work that would dilute every
 * difference between the targets. A fresh context gives the same cold load without it. Errors still surface: a
 * module answered with an error status is an error in the page's log (Log domain), a module that does not parse an
 * exception (Runtime domain).
 *
 * Certificates are checked, never ignored: the bench's CAs are trusted through the NSS database in the browser's
 * HOME (trust.ts), as a developer's would be after `gotunnel trust`. Names resolve through
 * `--host-resolver-rules`, so neither /etc/hosts nor a resolver is involved.
 */
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { DONE_BINDING, type PageResult } from "./app.ts";
import { CdpPipe } from "./cdp.ts";

/** The flags the project's browser tests use (CONTRIBUTING.md), plus what keeps a benchmark quiet and honest. */
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-extensions",
  "--disable-default-apps",
  "--mute-audio",
  // Only TCP: no target here offers HTTP/3, and Caddy's Alt-Svc would otherwise send later requests over QUIC.
  "--disable-quic",
  // A page must not be slowed as a background tab would be.
  "--disable-background-timer-throttling",
  "--disable-renderer-backgrounding",
  "--disable-backgrounding-occluded-windows",
  "--remote-debugging-pipe",
];
const START_TIMEOUT_MS = 30_000;

export interface BrowserOptions {
  /** argv put before `chromium`: a network namespace (nsenter) and a CPU (taskset). */
  prefix: string[];
  /** HOME holding .pki/nssdb with the bench's CAs. */
  home: string;
  /** Where profiles go (one per browser). */
  dir: string;
  /** `MAP name address` rules, joined into --host-resolver-rules. */
  resolverRules: string[];
  logPath: string;
}

export interface LoadOutcome {
  page?: PageResult;
  /** Why the load did not finish: a network error (ERR_CERT_…), a timeout, a wrong module count. */
  error?: string;
}

export class Browser {
  private constructor(
    private readonly proc: Subprocess,
    private readonly cdp: CdpPipe,
    readonly version: string,
  ) {}

  static async launch(options: BrowserOptions): Promise<Browser> {
    const profile = mkdtempSync(join(options.dir, "chromium-profile-"));
    const argv = [...options.prefix, "chromium", ...FLAGS, `--user-data-dir=${profile}`];
    if (options.resolverRules.length > 0) argv.push(`--host-resolver-rules=${options.resolverRules.join(", ")}`);
    argv.push("about:blank");
    const log = Bun.file(options.logPath).writer();
    const proc = Bun.spawn(argv, {
      env: { ...process.env, HOME: options.home },
      stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"],
    });
    void pump(proc.stderr as ReadableStream<Uint8Array>, log);
    const input = proc.stdio[3] as unknown as number;
    const output = Bun.file(proc.stdio[4] as unknown as number).stream();
    const cdp = new CdpPipe(input, output);
    const timer = setTimeout(() => proc.kill("SIGKILL"), START_TIMEOUT_MS);
    try {
      const version = await cdp.send("Browser.getVersion");
      return new Browser(proc, cdp, String(version.product));
    } catch (error) {
      throw new Error(`chromium did not start (${(error as Error).message}); see ${options.logPath}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * One cold load of `url` in a fresh context. Resolves when the entry module reports (every module ran), or with
   * the reason it did not within `timeoutMs`.
   */
  async coldLoad(url: string, timeoutMs: number): Promise<LoadOutcome> {
    const { browserContextId } = await this.cdp.send("Target.createBrowserContext", { disposeOnDetach: true });
    try {
      const { targetId } = await this.cdp.send("Target.createTarget", { url: "about:blank", browserContextId });
      const { sessionId } = (await this.cdp.send("Target.attachToTarget", { targetId, flatten: true })) as {
        sessionId: string;
      };
      // Runtime.bindingCalled is only sent while the Runtime domain is enabled.
      await this.cdp.send("Runtime.enable", {}, sessionId);
      await this.cdp.send("Runtime.addBinding", { name: DONE_BINDING }, sessionId);
      await this.cdp.send("Log.enable", {}, sessionId);
      return await this.navigate(url, sessionId, timeoutMs);
    } finally {
      await this.cdp.send("Target.disposeBrowserContext", { browserContextId }).catch(() => {
        // Already gone with the target: nothing left to dispose.
      });
    }
  }

  private async navigate(url: string, sessionId: string, timeoutMs: number): Promise<LoadOutcome> {
    const watch = new LoadWatch(this.cdp, sessionId);
    const timer = setTimeout(() => void this.explainTimeout(sessionId, watch, timeoutMs), timeoutMs);
    try {
      const navigation = await this.cdp.send("Page.navigate", { url }, sessionId);
      if (navigation.errorText) return { error: `navigation failed: ${navigation.errorText}` };
      return await watch.outcome;
    } finally {
      clearTimeout(timer);
      watch.stop();
    }
  }

  /** A load that never finished: say how far the page got. */
  private async explainTimeout(sessionId: string, watch: LoadWatch, timeoutMs: number): Promise<void> {
    const expression = `JSON.stringify([globalThis.__benchRan ?? 0, performance.getEntriesByType("resource").length])`;
    const state = await this.cdp
      .send("Runtime.evaluate", { expression, returnByValue: true }, sessionId)
      .then((reply) => JSON.parse(String((reply.result as { value?: string }).value)) as [number, number])
      .catch((error: Error) => error.message);
    const page =
      typeof state === "string" ? `page unreadable: ${state}` : `${state[0]} modules ran, ${state[1]} resources`;
    watch.fail(`no result within ${timeoutMs} ms (${page})`);
  }

  async close(): Promise<void> {
    await this.cdp.send("Browser.close").catch(() => {
      // The pipe is already closed: the process is exiting anyway.
    });
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 5000);
    await this.proc.exited;
    clearTimeout(timer);
  }
}

type Params = Record<string, unknown>;

/**
 * Follows one load's session: the entry's binding call (success), and what ends a load early: an error in the page's
 * log (how Chromium reports a module answered with an error status, or fetched and refused, e.g. for its MIME type)
 * or an exception (a module that does not parse).
 */
class LoadWatch {
  readonly outcome: Promise<LoadOutcome>;
  private settle: (outcome: LoadOutcome) => void = () => {};
  private readonly off: (() => void)[];

  constructor(cdp: CdpPipe, sessionId: string) {
    this.outcome = new Promise<LoadOutcome>((resolve) => {
      this.settle = resolve;
    });
    const handlers: Record<string, (params: Params) => void> = {
      "Runtime.bindingCalled": (params) => {
        if (params.name === DONE_BINDING) this.settle({ page: JSON.parse(String(params.payload)) });
      },
      "Runtime.exceptionThrown": (params) => {
        const details = params.exceptionDetails as { text: string; exception?: { description?: string } };
        this.fail(`the page threw: ${(details.exception?.description ?? details.text).split("\n")[0]}`);
      },
      "Log.entryAdded": (params) => {
        const entry = params.entry as { level: string; text: string; url?: string };
        if (entry.level === "error") this.fail(`the page logged: ${entry.text}${entry.url ? ` (${entry.url})` : ""}`);
      },
    };
    this.off = Object.entries(handlers).map(([method, handler]) =>
      cdp.on(method, (params, from) => {
        if (from === sessionId) handler(params);
      }),
    );
  }

  fail(error: string): void {
    this.settle({ error });
  }

  stop(): void {
    for (const off of this.off) off();
  }
}

async function pump(stream: ReadableStream<Uint8Array>, sink: ReturnType<ReturnType<typeof Bun.file>["writer"]>) {
  for await (const chunk of stream) sink.write(chunk);
  await sink.end();
}
