/**
 * What the daemon does between requests: keeps the route table and changes it one transaction at a time (see
 * transact: check and prepare, then state file, listeners, hosts block and mDNS). The control server maps HTTP onto
 * these methods; nothing here knows about sockets.
 */
import { buildInfo } from "../core/build-info.ts";
import { GotunnelError, isGotunnelError } from "../core/errors.ts";
import { redactSecrets } from "../core/redact.ts";
import { closest } from "../core/suggest.ts";
import { applyHostsNames, SKIP_REASON_TEXT } from "../hosts/index.ts";
import type { RequestEvent } from "../proxy/server.ts";
import { ErrorCounts, RequestMetrics } from "../telemetry/metrics.ts";
import { type ErrorReporter, NO_REPORTER } from "../telemetry/report.ts";
import { traced } from "../telemetry/tracing.ts";
import type { AdminUnavailable } from "./admin.ts";
import { admit } from "./admission.ts";
import type {
  AddRoutesRequest,
  ReadyEvent,
  RemoveRoutesRequest,
  RequestEventLine,
  RouteInfo,
  StatusResponse,
} from "./control/protocol.ts";
import { PROTOCOL_VERSION } from "./control/protocol.ts";
import type { DiscoveryStatus } from "./discovery.ts";
import type { Gateway } from "./gateway.ts";
import type { TrimStats } from "./idle-trim.ts";
import { probeTarget } from "./probe.ts";
import { RequestLog } from "./request-log.ts";
import { fullName, ownerLabel, type RouteTable, shortId } from "./routes.ts";
import { type RouteRecord, saveState } from "./state.ts";
import type { Notifier } from "./webhooks/notifier.ts";

export interface ServiceOptions {
  gateway: Gateway;
  table: RouteTable;
  stateFile: string;
  hostsFile: string;
  logFile?: string;
  /** The daemon's log (its stderr, which the CLI sends to daemon.log). */
  log(level: "info" | "warn", message: string): void;
  /** mDNS for shared `.local` routes (daemon/lan.ts); it stays quiet while the proxy listens on loopback only. */
  announcer?: { update(routes: readonly RouteRecord[]): Promise<void> };
  /**
   * Whether mDNS announces a route's name (a shared `.local` route): such a name resolves on this machine too (nss-mdns,
   * mDNSResponder), so a hosts file this daemon may not write is no reason to warn about it. Default: none.
   */
  announces?(route: RouteRecord): boolean;
  /** Failures besides the log (telemetry/report.ts); route changes are its performance spans. Default: none. */
  reporter?: ErrorReporter;
  errors?: ErrorCounts;
  /** Told of each committed change's served routes before and after (webhooks/events.ts: route.up, route.down). */
  events?: { routesChanged(before: readonly RouteRecord[], after: readonly RouteRecord[]): void };
  /** Webhook deliveries, for `gotunnel logs --webhooks` and /metrics. */
  webhooks?: Notifier;
  /**
   * Called after a write that changed the hosts file, to drop the OS resolver's cached answers
   * (platform/resolver-cache.ts: macOS only). Resolves with warnings for the log. Default: nothing to flush.
   */
  flushResolver?(): Promise<string[]>;
}

type Listener = (line: RequestEventLine) => void;

/** Why a session's stream ends while its client is still there: its routes went away by another command. */
export const ROUTES_GONE_REASON =
  "this session's routes were removed by another command (`gotunnel down`, `stop`, `stop-all`, or `--force` elsewhere)";

export class DaemonService {
  private readonly startedAt = new Date();
  private readonly listeners = new Map<string, Listener>();
  /** Per live session: ends its stream (with the reason) when a change by someone else leaves it no route. */
  private readonly enders = new Map<string, (reason: string) => void>();
  private hostsNames: string[] = [];
  private hostsWarning: string | undefined;
  private skipped: { name: string; text: string }[] = [];
  private chain: Promise<void> = Promise.resolve();
  /** Replaced, never mutated, by a committed change (transact). */
  private table: RouteTable;
  private closed = false;
  /** Prometheus counters (telemetry/metrics.ts), served by daemon/admin.ts. */
  readonly metrics = new RequestMetrics();
  /** The last requests, for `gotunnel logs` (request-log.ts). */
  readonly requestLog = new RequestLog();
  /** Reports by component and category (telemetry/report.ts countingReporter fills it). */
  readonly errors: ErrorCounts;
  /**
   * The admin listener's port once it is bound (daemon/admin.ts) and the file holding the token its /debug endpoints
   * need (daemon/debug.ts), or why it is not bound; absent when turned off.
   */
  admin:
    | { port: number; debugTokenFile: string; server: { stop(force: boolean): Promise<void> } }
    | { unavailable: AdminUnavailable }
    | undefined;
  /** The idle trims (idle-trim.ts), for GET /debug/memory; set by daemon.ts. */
  trim: { stats(): TrimStats } | undefined;
  /** Docker discovery (discovery.ts) when turned on, for `gotunnel status`. */
  discovery: { status(): DiscoveryStatus } | undefined;
  /** The CA was created when this daemon started: only the first command it serves should say so. */
  private caCreated: boolean;
  private readonly reporter: ErrorReporter;

  constructor(private readonly options: ServiceOptions) {
    this.table = options.table;
    this.caCreated = options.gateway.caCreated;
    this.reporter = options.reporter ?? NO_REPORTER;
    this.errors = options.errors ?? new ErrorCounts();
  }

  /** Logs the request (unrouted ones too: they explain a 404), counts it, and forwards it to its route's session. */
  readonly onRequest = (event: RequestEvent): void => {
    this.requestLog.push(event);
    if (!event.route) return;
    this.metrics.observe(event);
    const session = this.table.sessionOf(event.route);
    const listener = session ? this.listeners.get(session) : undefined;
    if (listener) listener(sessionLine(event));
  };

  async add(request: AddRoutesRequest, sessionId?: string): Promise<ReadyEvent> {
    const names = request.routes.map((route) => route.name).join(",");
    const added = await traced("route add", { "gotunnel.routes": names }, () =>
      this.transact((table) => table.add(request, sessionId)),
    );
    const { gateway } = this.options;
    const caCreated = this.caCreated;
    this.caCreated = false;
    return {
      event: "ready",
      routes: added.map((route) => ({
        name: route.name,
        url: gateway.urlOf(route),
        target: route.target.origin,
        ...(route.targets ? { targets: route.targets.map((target) => target.origin) } : {}),
      })),
      ports: gateway.ports,
      ca: { path: gateway.ca.certPath, created: caCreated },
      ...(this.hostsWarning ? { hostsWarning: this.hostsWarning } : {}),
      ...this.skippedNotes(added.map((route) => route.name)),
    };
  }

  private skippedNotes(names: string[]): { hostsSkipped?: string[] } {
    const notes = this.skipped.filter((skip) => names.includes(skip.name));
    return notes.length === 0 ? {} : { hostsSkipped: notes.map((skip) => `${skip.name}: ${skip.text}`) };
  }

  async remove(request: RemoveRoutesRequest): Promise<string[]> {
    return this.removeTraced(() => this.transact((table) => table.remove(request)));
  }

  /**
   * Serves a route found by docker discovery (daemon/discovery.ts), or with undefined stops serving it: one
   * transaction like any change, so a name the CA cannot cover is refused (thrown) and nothing else changes.
   */
  async discover(name: string, record: RouteRecord | undefined): Promise<void> {
    const span = record ? "route discover" : "route forget";
    await traced(span, { "gotunnel.routes": name }, () => this.transact((table) => table.discover(name, record)));
  }

  /** A removal's span names the routes it removed, which are known only once it ran. */
  private removeTraced(remove: () => Promise<string[]>): Promise<string[]> {
    return traced("route remove", {}, async (span) => {
      const removed = await remove();
      span.setAttribute("gotunnel.routes", removed.join(","));
      return removed;
    });
  }

  /**
   * The route `gotunnel logs NAME` means (`api` → `api.local`): a route, or a removed one whose requests are still
   * buffered (asked for by its exact name). Any other name is an E_USAGE that lists the current routes and guesses
   * among them only: suggesting a route that is gone would send the user after it.
   */
  logRoute(name: string): string {
    const full = fullName(name);
    const current = this.table.list().map((route) => route.name);
    if (current.includes(full) || this.requestLog.routes().has(full)) return full;
    const guess = closest(full, current);
    const routes = current.length === 0 ? "there are no routes" : `the routes are ${current.sort().join(", ")}`;
    throw new GotunnelError("E_USAGE", `no route named ${name}: ${routes}`, {
      hint: guess ? `did you mean \`gotunnel logs ${guess}\`?` : "`gotunnel logs` with no name shows every route",
      details: { routes: current },
    });
  }

  /**
   * `end` is called when another command's change leaves the session no route (`gotunnel down` while `up` runs):
   * the session's client should stop what it started for them (its dev servers) and exit.
   */
  listen(sessionId: string, listener: Listener, end?: (reason: string) => void): void {
    this.listeners.set(sessionId, listener);
    if (end) this.enders.set(sessionId, end);
  }

  /** The session's client went away (Ctrl-C, SIGTERM, SIGKILL, terminal closed): its routes go with it. */
  async endSession(sessionId: string): Promise<string[]> {
    this.listeners.delete(sessionId);
    this.enders.delete(sessionId);
    // Shutdown cuts every session: the daemon is going, and the listeners with it.
    if (this.closed) return [];
    // Nobody awaits a session's end (its client is gone), so a failure is logged here rather than lost.
    const removed = await this.removeTraced(() => this.transact((table) => table.endSession(sessionId))).catch(
      (error: unknown) => {
        this.options.log("warn", `after a session ended: ${String(error)}`);
        this.reporter.report(error, { component: "daemon" });
        return [];
      },
    );
    if (removed.length > 0) this.options.log("info", `session ended: removed ${removed.join(", ")}`);
    return removed;
  }

  get webhooks(): Notifier | undefined {
    return this.options.webhooks;
  }

  /** The routes the proxy serves now. */
  served(): RouteRecord[] {
    return this.table.served();
  }

  /** Scrape-time gauges from the listeners, the upstream client and the certificate store. */
  gauges() {
    return this.options.gateway.gauges();
  }

  /** Every route, with whether its dev server accepts connections now (probed in parallel). */
  async routes(): Promise<RouteInfo[]> {
    // Changes queued before this call come first: `list` right after an `up` exits sees that session's routes gone.
    await this.chain;
    const { gateway } = this.options;
    const table = this.table;
    const balanced = new Map(gateway.backends().map(({ route, backends }) => [route, backends]));
    return Promise.all(
      table.list().map(async ({ notify: _secrets, ...record }) => {
        const common = {
          ...record,
          url: gateway.urlOf(record),
          requests: this.metrics.requestCount(record.name),
          source: record.owner.kind === "docker" ? ("docker" as const) : ("user" as const),
        };
        const problem = table.problemOf(record.name);
        if (problem) return { ...common, status: "refused" as const, problem };
        const states = balanced.get(record.name);
        // Several backends: the proxy's own view of each (passive and active health), and serving while one is up.
        if (states) {
          const targets = record.targets ?? [];
          const listening = await Promise.all(targets.map((target) => probeTarget(target.hostname, target.port)));
          const backends = states.map(({ failuresTotal: _total, ...state }, index) => ({
            ...state,
            listening: listening[index] ?? false,
          }));
          const up = backends.some((backend) => backend.state === "up" && backend.listening);
          return { ...common, backends, status: up ? ("serving" as const) : ("upstream-down" as const) };
        }
        const up = await probeTarget(record.target.hostname, record.target.port);
        return { ...common, status: up ? ("serving" as const) : ("upstream-down" as const) };
      }),
    );
  }

  status(): StatusResponse {
    const { gateway } = this.options;
    return {
      protocol: PROTOCOL_VERSION,
      version: buildInfo().version,
      pid: process.pid,
      startedAt: this.startedAt.toISOString(),
      uptimeMs: Date.now() - this.startedAt.getTime(),
      ports: gateway.ports,
      ca: { path: gateway.ca.certPath, notAfter: gateway.ca.notAfter.toISOString() },
      hosts: {
        path: this.options.hostsFile,
        names: this.hostsNames,
        ...(this.hostsWarning ? { warning: this.hostsWarning } : {}),
      },
      routes: this.table.list().length,
      stateFile: this.options.stateFile,
      ...(this.options.logFile ? { logFile: this.options.logFile } : {}),
      ...(this.admin && "port" in this.admin
        ? { admin: { port: this.admin.port, debugTokenFile: this.admin.debugTokenFile } }
        : {}),
      ...(this.admin && "unavailable" in this.admin ? { adminUnavailable: this.admin.unavailable } : {}),
      ...(this.discovery ? { discovery: { docker: this.discovery.status() } } : {}),
    };
  }

  /**
   * One route change as a transaction, queued behind the others so each sees the table the previous one left.
   * The change is made on a copy of the table. First everything that can refuse it: the served routes' names and
   * the CA's scope (admission.ts), and their certificates are issued. Then the commit: the state file (only when
   * what it holds changes), then the listeners; a failed swap restores the state file. Only then is the copy
   * adopted, so a refused change leaves the table, the state file and the listeners as they were. The hosts block
   * and mDNS follow and can only warn: the routes are served either way.
   */
  private transact<T>(change: (table: RouteTable) => T): Promise<T> {
    const next = this.chain.then(() => this.reporter.span("routes apply", () => this.commit(change)));
    // The caller gets this change's error through `next`; the chain itself only needs to keep going.
    this.chain = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  private async commit<T>(change: (table: RouteTable) => T): Promise<T> {
    if (this.closed) {
      throw new GotunnelError("E_DAEMON", "the gotunnel daemon is shutting down", {
        hint: "run the command again: it starts a new daemon",
      });
    }
    const { gateway, stateFile } = this.options;
    const before = this.table;
    const candidate = before.clone();
    const result = change(candidate);
    const served = candidate.served();
    admit(served, (route) => gateway.checkTls(route));
    await gateway.prepare(served);
    const stateChanged = JSON.stringify(candidate.persisted()) !== JSON.stringify(before.persisted());
    if (stateChanged) saveState(stateFile, candidate.persisted());
    const servedChanged = JSON.stringify(served) !== JSON.stringify(before.served());
    if (servedChanged) {
      await gateway.setRoutes(served).catch((error: unknown) => {
        if (stateChanged) this.restoreState(before);
        throw error;
      });
    }
    this.table = candidate;
    this.warnShadowed(before);
    this.options.events?.routesChanged(before.served(), served);
    this.endEmptiedSessions(before);
    if (servedChanged) await this.publish();
    return result;
  }

  /** A user's route and a container's label name the same route: the user's is served, and the log says so once. */
  private warnShadowed(before: RouteTable): void {
    const was = new Set(before.shadowed().map(({ discovered }) => `${discovered.name} ${discovered.addedAt}`));
    for (const { discovered, user } of this.table.shadowed()) {
      if (was.has(`${discovered.name} ${discovered.addedAt}`) || discovered.owner.kind !== "docker") continue;
      const { container, id } = discovered.owner;
      this.warn(
        `${discovered.name}: container ${container} (${shortId(id)}) asks for it with its gotunnel.route label, but it is a route of ${ownerLabel(user.owner)}, which wins; the container's route is served once that route is removed`,
      );
    }
  }

  /** Tells each live session that the committed change left without a route that it is over. */
  private endEmptiedSessions(before: RouteTable): void {
    const remaining = this.table.sessionIds();
    for (const sessionId of before.sessionIds()) {
      if (remaining.has(sessionId)) continue;
      const end = this.enders.get(sessionId);
      this.enders.delete(sessionId);
      end?.(ROUTES_GONE_REASON);
    }
  }

  /** Puts back the state file of a change that could not be served; if even that fails, the log says so. */
  private restoreState(table: RouteTable): void {
    try {
      saveState(this.options.stateFile, table.persisted());
    } catch (error) {
      this.warn(`a route change failed and the state file could not be restored: ${String(error)}`);
      this.reporter.report(error, { component: "daemon" });
    }
  }

  /**
   * Publishes the served names: the hosts block, then mDNS. The daemon calls it once at start (the listeners
   * already serve the restored routes); every committed change calls it again.
   */
  async publish(): Promise<void> {
    const served = this.table.served();
    // The change is committed by now: a failure to publish a name is reported, never turned into a failed change.
    const announced = served.filter((route) => this.options.announces?.(route) ?? false).map((route) => route.name);
    await this.writeHosts(
      served.map((route) => route.name),
      announced,
    ).catch((error: unknown) => {
      this.warn(`the hosts file could not be updated: ${String(error)}`);
      this.reporter.report(error, { component: "hosts" });
    });
    await this.announce(served);
  }

  /** The routes are served either way; a name that does not reach the LAN is a warning, like the hosts file. */
  private async announce(routes: readonly RouteRecord[]): Promise<void> {
    await traced("mdns announce", { "gotunnel.route.count": routes.length }, async () =>
      this.options.announcer?.update(routes),
    ).catch((error: unknown) => {
      this.warn(`mDNS could not announce the .local routes: ${String(error)}`);
      this.reporter.report(error, { component: "mdns" });
    });
  }

  warn(message: string): void {
    this.options.log("warn", message);
  }

  /** Shutdown has begun: sessions that end now (their streams are cut) must not re-bind a listener. */
  close(): void {
    this.closed = true;
  }

  /** Removes this daemon's hosts entries (graceful shutdown). */
  clearHosts(): Promise<void> {
    return this.chain.then(() => this.writeHosts([]));
  }

  /**
   * Never throws for a hosts file we may not write: the routes still work with `--resolve`, so it is a warning, except
   * when mDNS already resolves every name it would have held (`announced`): a rootless daemon's normal case.
   */
  private async writeHosts(names: string[], announced: readonly string[] = []): Promise<void> {
    try {
      const result = await traced("hosts update", { "gotunnel.hosts.names": names.length }, () =>
        applyHostsNames(this.options.hostsFile, names),
      );
      this.hostsNames = names.filter((name) => !result.skipped.some((skip) => skip.name === name));
      this.hostsWarning = undefined;
      if (result.changed) for (const warning of (await this.options.flushResolver?.()) ?? []) this.warn(warning);
      // localhost names need no entry (they resolve anyway); a wildcard is worth telling the user about.
      this.skipped = result.skipped
        .filter((item) => item.reason === "wildcard")
        .map((item) => ({ name: item.name, text: SKIP_REASON_TEXT[item.reason] }));
      for (const skip of this.skipped) this.options.log("warn", `${skip.name}: ${skip.text}`);
    } catch (error) {
      if (!isGotunnelError(error) || error.code !== "E_IO") throw error;
      if (coveredByMdns(error, announced)) {
        this.hostsNames = [];
        this.hostsWarning = undefined;
        const { path, missing } = error.details as { path: string; missing: string[] };
        this.options.log(
          "info",
          `${path} is not writable by this daemon: ${missing.join(", ")} resolve by mDNS instead`,
        );
        return;
      }
      // The hosts service's message already names the names that will not resolve; its hint is the fix.
      this.hostsWarning = error.hint ? `${error.message} ${error.hint}` : error.message;
      this.options.log("warn", this.hostsWarning);
      this.reporter.report(error, { component: "hosts" });
    }
  }
}

/** Permission denied (not a broken file), and every name it left out is announced by mDNS, with no stale entry left. */
function coveredByMdns(error: GotunnelError, announced: readonly string[]): boolean {
  const details = (error.details ?? {}) as { code?: string; missing?: string[]; stale?: string[] };
  if (!["EACCES", "EPERM", "EROFS"].includes(details.code ?? "")) return false;
  return (details.stale ?? []).length === 0 && (details.missing ?? []).every((name) => announced.includes(name));
}

/**
 * The line an `up` session prints for a request: the schema's fields and nothing else. A spread of the event would
 * also send its Headers (Bun's JSON.stringify writes a Headers' fields, Cookie and Authorization among them) and a
 * capture's bodies to the `up` process, which drops them unread, at about a tenth of the daemon's CPU per request.
 * Secret-looking query values never reach the `up` terminal, as in `gotunnel logs` (request-log.ts logLine).
 */
export function sessionLine(event: RequestEvent): RequestEventLine {
  const { method, host, path, status, durationMs, route, error } = event;
  const line: RequestEventLine = {
    event: "request",
    method,
    host,
    path: redactSecrets(path),
    status,
    durationMs,
    route,
  };
  if (error) line.error = String((error as Error).message ?? error);
  return line;
}
