/**
 * Docker discovery (`discovery: { docker: true }`): a route for each running container labelled
 * `gotunnel.route=NAME`, to its published port, for as long as it runs. The engine's container list is the truth:
 * it is read when the event stream opens and again after each container event, and the difference becomes route
 * changes through the service's transactions (service.ts discover), like any `start`. When the engine cannot be
 * reached, its routes are removed and discovery retries with backoff; a stream that merely ends is reopened at once.
 * Problems with one container (a bad label, no published port, a name the CA cannot cover) are warnings that name
 * the container and the label; they never stop discovery or touch other routes.
 */
import { type EngineAddress, engineAddress } from "../docker/address.ts";
import { EngineClient, engineProblem } from "../docker/engine.ts";
import { ROUTE_LABEL } from "../docker/published.ts";
import { ownerText, wantedRoutes } from "./discovered-routes.ts";
import type { RouteRecord } from "./state.ts";

/** First retry after the engine could not be reached; doubled each time up to RETRY_MAX_MS. */
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;
/** A `docker stop` sends kill, die and stop within milliseconds: one list after the burst is enough. */
const RESYNC_DEBOUNCE_MS = 100;
/** Actions that can change which labelled containers run or where their ports are (Docker and Podman names). */
const RESYNC_ACTIONS = new Set(["start", "restart", "die", "stop", "kill", "destroy", "pause", "unpause", "rename"]);

export interface DiscoveryOptions {
  env: Record<string, string | undefined>;
  /** service.discover: serve (or with undefined, drop) one discovered route, as one transaction. */
  apply(name: string, record: RouteRecord | undefined): Promise<void>;
  log(level: "info" | "warn", message: string): void;
}

/** What `gotunnel status` shows of discovery. */
export interface DiscoveryStatus {
  engine: string;
  connected: boolean;
  routes: number;
  error?: string;
}

interface Applied {
  record: RouteRecord;
  /** The record without its time: an unchanged container keeps its route (and its addedAt). */
  key: string;
}

export class DockerDiscovery {
  private readonly applied = new Map<string, Applied>();
  /** Problems already logged (container id + text), so a resync does not repeat them. */
  private readonly warned = new Set<string>();
  private readonly stopped = new AbortController();
  private connection: AbortController | undefined;
  private chain: Promise<void> = Promise.resolve();
  private resyncTimer: ReturnType<typeof setTimeout> | undefined;
  private engine = "(not resolved yet)";
  private connected = false;
  private lastError: string | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: DiscoveryOptions) {}

  start(): void {
    this.running ??= this.loop();
  }

  status(): DiscoveryStatus {
    return {
      engine: this.engine,
      connected: this.connected,
      routes: this.applied.size,
      ...(this.lastError ? { error: this.lastError } : {}),
    };
  }

  /** Stops following the engine. The routes stay: the daemon is shutting down and takes them all down itself. */
  async stop(): Promise<void> {
    this.stopped.abort();
    this.connection?.abort();
    clearTimeout(this.resyncTimer);
    await this.running;
    await this.chain;
  }

  private async loop(): Promise<void> {
    let delay = RETRY_MIN_MS;
    while (!this.stopped.signal.aborted) {
      const choice = engineAddress(this.options.env);
      if ("error" in choice) {
        this.lastError = choice.error;
        this.options.log("warn", `docker discovery is off: ${choice.error}`);
        return;
      }
      this.engine = choice.text;
      const outcome = await this.follow(choice);
      if (this.stopped.signal.aborted) return;
      if (outcome === "ended") {
        // The engine closed a stream it had opened (restarted, or a proxy's timeout): reopen soon, routes kept.
        // The next list catches up on whatever happened in between; the pause keeps an engine that closes every
        // stream at once from being asked in a tight loop.
        delay = RETRY_MIN_MS;
        await sleep(RETRY_MIN_MS, this.stopped.signal);
        continue;
      }
      await this.queue(() => this.forgetAll(`the engine at ${choice.text} cannot be reached`));
      await sleep(delay, this.stopped.signal);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  }

  /** Opens the stream, lists, then follows events until the stream ends ("ended") or fails to open ("failed"). */
  private async follow(address: EngineAddress): Promise<"ended" | "failed"> {
    const client = new EngineClient(address);
    const connection = new AbortController();
    this.connection = connection;
    const signal = AbortSignal.any([connection.signal, this.stopped.signal]);
    let events: AsyncGenerator<{ action: string; attributes: Record<string, string> }>;
    try {
      events = await client.openEvents(signal);
      await this.queue(() => this.resync(client, signal));
    } catch (error) {
      this.lost(address, error);
      return "failed";
    }
    if (!this.connected) this.options.log("info", `docker discovery: following ${address.text}`);
    this.connected = true;
    this.lastError = undefined;
    try {
      for await (const event of events) {
        if (RESYNC_ACTIONS.has(event.action) && ROUTE_LABEL in event.attributes) this.scheduleResync(client, signal);
      }
    } catch (error) {
      if (this.stopped.signal.aborted) return "ended";
      this.lost(address, error);
      return "failed";
    }
    return "ended";
  }

  /** Logs the first failure of an outage; later retries stay quiet until the engine answers again. */
  private lost(address: EngineAddress, error: unknown): void {
    if (this.stopped.signal.aborted) return;
    const message = engineProblem(error, address);
    const first = this.connected || this.lastError === undefined;
    this.connected = false;
    this.lastError = message;
    if (first) {
      this.options.log(
        "warn",
        `docker discovery: the engine at ${address.text} cannot be reached: ${message} (retrying, up to every ${RETRY_MAX_MS / 1000} s)`,
      );
    }
  }

  private scheduleResync(client: EngineClient, signal: AbortSignal): void {
    clearTimeout(this.resyncTimer);
    this.resyncTimer = setTimeout(() => {
      void this.queue(() => this.resync(client, signal)).catch((error: unknown) => {
        // The stream usually fails too and the loop reconnects; the routes stay as they are until then.
        if (!signal.aborted) this.options.log("warn", `docker discovery: listing containers failed: ${String(error)}`);
      });
    }, RESYNC_DEBOUNCE_MS);
  }

  /** Resyncs and removals run one at a time, in order: each sees what the previous one applied. */
  private queue(step: () => Promise<void>): Promise<void> {
    const next = this.chain.then(step);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async resync(client: EngineClient, signal: AbortSignal): Promise<void> {
    const containers = await client.labelled(ROUTE_LABEL, signal);
    if (signal.aborted) return;
    const engineHost = client.address.kind === "tcp" ? client.address.host : "127.0.0.1";
    const holds = (id: string) =>
      [...this.applied.values()].some(({ record }) => record.owner.kind === "docker" && record.owner.id === id);
    const { routes: wanted, problems } = wantedRoutes(containers, engineHost, holds);
    for (const problem of problems) this.warnOnce(problem.key, `docker discovery: ${problem.message}`);
    for (const [name, applied] of this.applied) {
      if (wanted.has(name)) continue;
      await this.apply(name, undefined, `${name} removed: ${ownerText(applied.record)} is no longer running`);
    }
    for (const [name, record] of wanted) {
      if (this.applied.get(name)?.key === keyOf(record)) continue;
      await this.apply(name, record, `${name} → ${record.target.origin}, ${ownerText(record)}`);
    }
  }

  private async forgetAll(reason: string): Promise<void> {
    for (const [name, applied] of this.applied) {
      await this.apply(name, undefined, `${name} removed, ${ownerText(applied.record)}: ${reason}`);
    }
  }

  private async apply(name: string, record: RouteRecord | undefined, done: string): Promise<void> {
    try {
      await this.options.apply(name, record);
    } catch (error) {
      const what = record ? `${ownerText(record)} asks for ${name} with its ${ROUTE_LABEL} label` : name;
      const text = error instanceof Error ? error.message : String(error);
      const hint = (error as { hint?: string }).hint;
      this.warnOnce(
        `${name} ${text}`,
        `docker discovery: ${what}, but it is not served: ${text}${hint ? ` ${hint}` : ""}`,
      );
      if (record) this.applied.delete(name);
      return;
    }
    if (record) this.applied.set(name, { record, key: keyOf(record) });
    else this.applied.delete(name);
    this.options.log("info", `docker: ${done}`);
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.options.log("warn", message);
  }
}

function keyOf(record: RouteRecord): string {
  const { addedAt: _time, ...rest } = record;
  return JSON.stringify(rest);
}

/** Resolves after `ms`, or at once when `signal` aborts (shutdown must not wait out a backoff). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
