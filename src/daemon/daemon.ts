/**
 * The daemon's lifecycle: take the per-user lock, restore routes from the state file (repairing the hosts block
 * after a crash), serve the gateway and the control socket, then on SIGINT/SIGTERM (or `gotunnel daemon stop`) shut
 * down in order: stop accepting, let in-flight requests finish (bounded), remove our hosts entries, release the
 * listeners, the socket and the lock.
 */
import { rmSync } from "node:fs";
import type { ResolvedConfig } from "../config/load.ts";
import { DEFAULT_ADMIN_PORT } from "../config/schema.ts";
import { buildInfo } from "../core/build-info.ts";
import { DASHBOARD_HOST } from "../core/dashboard.ts";
import { hostsFilePath } from "../hosts/index.ts";
import type { Paths } from "../platform/paths.ts";
import { portRuleSubject } from "../platform/privileged-ports.ts";
import { resolverFlusher } from "../platform/resolver-cache.ts";
import { withOwnedDir } from "../platform/safe-fs.ts";
import { addressAvailable } from "../proxy/listen-errors.ts";
import type { ProxyRoute } from "../proxy/router.ts";
import { ErrorCounts } from "../telemetry/metrics.ts";
import { countingReporter, type ErrorReporter, NO_REPORTER } from "../telemetry/report.ts";
import { describeSettings, type TelemetrySettings, telemetrySettings } from "../telemetry/settings.ts";
import { startTracing } from "../telemetry/tracing.ts";
import { type AdminContext, daemonFamilies, startAdminServer } from "./admin.ts";
import { partition } from "./admission.ts";
import { socketPath } from "./control/endpoint.ts";
import type { StatusResponse } from "./control/protocol.ts";
import { assertNoListener, startControlServer } from "./control/server.ts";
import { Dashboard } from "./dashboard/index.ts";
import { writeDebugToken } from "./debug.ts";
import { DockerDiscovery } from "./discovery.ts";
import { type Gateway, type GatewayOptions, startGateway } from "./gateway.ts";
import { IdleTrim, idleTrimQuietMs } from "./idle-trim.ts";
import { type LanAnnouncer, lanAnnouncer, rebindMessage } from "./lan.ts";
import { type ListenPlan, listenPlan } from "./listen-plan.ts";
import { acquireLock, type DaemonLock } from "./lock.ts";
import { keepPresent, listenForRevive } from "./presence.ts";
import { SHUTDOWN_GRACE_MS } from "./process.ts";
import { RouteTable } from "./routes.ts";
import { DaemonService } from "./service.ts";
import { forceExitOnSecondSignal, nextSignal } from "./signals.ts";
import { loadState, STATE_DIR_MODE, statePath } from "./state.ts";
import { RouteEvents } from "./webhooks/events.ts";
import { Notifier } from "./webhooks/notifier.ts";

/**
 * How long the last webhook deliveries (route.down for every route) get at shutdown, counted from when the listeners
 * have stopped: a receiver that answers gets them, one that is down does not hold the daemon up.
 */
const WEBHOOK_FLUSH_MS = 3_000;

export interface DaemonOptions {
  proxy: ResolvedConfig["proxy"];
  /** The config's `discovery`: `docker: true` follows the container engine (discovery.ts). */
  discovery?: ResolvedConfig["discovery"];
  /** Where DOCKER_HOST and XDG_RUNTIME_DIR are read; default: process.env. */
  env?: Record<string, string | undefined>;
  /** The daemon config's global `lan` (undefined: not set by any layer). See lan.ts for what it changes. */
  lan?: boolean;
  /** Whose port rule applies (platform/privileged-ports.ts); default: this process's platform and uid. */
  portRule?: { platform: NodeJS.Platform; uid: number | undefined };
  paths: Paths;
  /** Default: hostsFilePath() (GOTUNNEL_HOSTS_FILE or the OS's hosts file). */
  hostsFile?: string;
  log(level: "info" | "warn", message: string): void;
  /** Where failures go besides the log (telemetry/report.ts): Sentry when a DSN is set; default: nowhere. */
  reporter?: ErrorReporter;
  /** The config's `observability` (with OTEL_* it decides whether spans are exported); default: no tracing. */
  observability?: ResolvedConfig["observability"];
  onReady?(status: StatusResponse): void;
  /** The certificate issuer, already started by the caller (gateway.ts GatewayOptions.issuer). */
  issuer?: GatewayOptions["issuer"];
}

/** Resolves after a clean shutdown. */
export async function runDaemon(options: DaemonOptions): Promise<NodeJS.Signals> {
  const { paths, log } = options;
  const errors = new ErrorCounts();
  const reporter = countingReporter(options.reporter ?? NO_REPORTER, errors);
  const revive = listenForRevive();
  let lock: DaemonLock | undefined;
  try {
    // Under sudo, the state and runtime dirs are created as the invoking user's (or refused: platform/safe-fs.ts).
    withOwnedDir(paths.runtimeDir, STATE_DIR_MODE, () => undefined);
    lock = acquireLock(paths.stateDir);
    await assertNoListener(socketPath(paths.runtimeDir));
    const stateFile = statePath(paths.stateDir);
    const loaded = loadState(stateFile);
    if (loaded.warning) log("warn", loaded.warning);
    // Only persistent routes are saved; the filter also drops any session route an older daemon left behind.
    const table = new RouteTable(loaded.routes.filter((route) => route.persistent));
    // A route with a name the daemon cannot use is skipped here; one outside the CA's scope by the gateway.
    const named = partition(table.list(), () => undefined);
    let service: DaemonService | undefined;
    let dashboard: Dashboard | undefined;
    const telemetry = options.observability && telemetrySettings(options.observability);
    const tracing = telemetry && (await startTracing(telemetry, log));
    // Set once the gateway serves; until then no route is, and the guard refuses other machines.
    let served: () => readonly ProxyRoute[] = () => [];
    const plan = daemonListenPlan(options, () => served());
    // Set once the gateway serves, as `service` is: until then there is no request to count.
    let trim: IdleTrim | undefined;
    if (plan.note) log("info", plan.note);
    const gateway = await startGateway({
      proxy: options.proxy,
      bindHosts: plan.bindHosts,
      onRebind: (hosts, error) => log(...rebindMessage(hosts, error)),
      routes: named.served,
      paths,
      onRequest: (event) => {
        service?.onRequest(event);
        trim?.touch();
      },
      onRenewalError: (error) => {
        log("warn", `certificate renewal failed, retrying in a minute: ${String(error)}`);
        reporter.report(error, { component: "tls" });
      },
      onProxyError: (error) => {
        // The daemon's log redacts what it writes (core/redact.ts), which a console.error in the proxy would not.
        log(
          "warn",
          `internal error in the proxy: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        );
        reporter.report(error, { component: "proxy", category: "internal" });
      },
      isAllowed: plan.isAllowed,
      site: { host: DASHBOARD_HOST, serve: (req, client) => dashboard?.serve(req, client) ?? starting() },
      captures: (route) => dashboard?.capturing.has(route.name) === true,
      tracing: tracing?.requests,
      log,
      ...(options.issuer ? { issuer: options.issuer } : {}),
    });
    served = () => gateway.routes;
    // Memory back once quiet: after start-up, after each burst of requests and each route change (idle-trim.ts).
    trim = new IdleTrim({ quietMs: idleTrimQuietMs(options.env ?? process.env), busy: () => gateway.busy() });
    const sharesLan = () => plan.sharesLan(gateway.hosts, gateway.routes);
    for (const { name, problem } of [...named.refused, ...gateway.refused]) {
      table.refuse(name, problem);
      log("warn", `the saved route ${name} is not served: ${problem.message} ${problem.hint}`);
    }
    const announcer = startAnnouncer(gateway, options, sharesLan);
    const hostsFile = options.hostsFile ?? hostsFilePath();
    // The same rule lan.ts announces by: a `.local` name, shared unless the route or the daemon says lan: false.
    const announces = (route: { name: string; lan?: boolean }) =>
      route.name.endsWith(".local") && (route.lan ?? options.lan ?? true) && sharesLan();
    const webhooks = new Notifier({ log });
    const events = new RouteEvents({
      notifier: webhooks,
      served: () => service?.served() ?? [],
      urlOf: (route) => gateway.urlOf(route),
      ca: { path: gateway.ca.certPath, notAfter: gateway.ca.notAfter },
    });
    service = new DaemonService({
      gateway,
      table,
      stateFile,
      hostsFile,
      log,
      announcer,
      announces,
      reporter,
      errors,
      events: {
        routesChanged: (before, after) => {
          trim?.touch();
          events.routesChanged(before, after);
        },
      },
      webhooks,
      flushResolver: resolverFlusher(),
    });
    await service.publish();
    dashboard = dashboardOf(service, gateway, options, sharesLan);
    events.start(service.served());
    const discovery = startDiscovery(options, service);
    const metricsExport = telemetry && (await startMetricsExport(telemetry, service, log));
    let requestShutdown: (signal: NodeJS.Signals) => void = () => undefined;
    const shutdownRequested = new Promise<NodeJS.Signals>((resolve) => {
      requestShutdown = resolve;
    });
    const admin: AdminContext = { service, config: () => effectiveConfig(options, hostsFile, telemetry) };
    const control = keepPresent({
      lock,
      socket: socketPath(paths.runtimeDir),
      revive,
      log,
      serve: () =>
        startControlServer({
          path: socketPath(paths.runtimeDir),
          service,
          admin,
          onShutdown: () => requestShutdown("SIGTERM"),
        }),
    });
    const adminPort = options.proxy.adminPort ?? DEFAULT_ADMIN_PORT;
    service.admin = adminPort === false ? undefined : serveAdmin(adminPort, admin, paths, log);
    const status = service.status();
    log(
      "info",
      `daemon ${process.pid} ready on ${gateway.hosts.join(" and ")}: https ${status.ports.https}, http ${status.ports.http}`,
    );
    options.onReady?.(status);
    service.trim = trim;
    trim.touch();
    const signal = await nextSignal(shutdownRequested);
    log("info", `${signal}: stopping, letting in-flight requests finish`);
    trim.stop();
    if (service.admin && "server" in service.admin) await service.admin.server.stop(true);
    // Before the service closes: a discovered route applied after that would fail as "shutting down".
    await discovery?.stop();
    // Every route goes down with the daemon: route.down events are queued first, and get a bounded time to go out.
    events.stop();
    dashboard.close();
    const running = { service, gateway, control, announcer, reporter, socket: socketPath(paths.runtimeDir) };
    await reporter.span("daemon shutdown", () => shutdown(running));
    // After the listeners: the last requests' spans are queued and counted by now.
    await Promise.all([tracing?.shutdown(), metricsExport?.shutdown(), webhooks.drained(WEBHOOK_FLUSH_MS)]);
    return signal;
  } finally {
    // The lock first: while it is held, a command may still send REVIVE_SIGNAL, which must find its handler.
    lock?.release();
    revive.close();
  }
}

/** lan.ts's policy, or the guarded wildcard where the OS allows the ports only there (listen-plan.ts). */
function daemonListenPlan(options: DaemonOptions, served: () => readonly ProxyRoute[]): ListenPlan {
  const rule = options.portRule ?? portRuleSubject(options.env ?? process.env, process.platform, process.getuid?.());
  const { httpsPort, httpPort } = options.proxy;
  return listenPlan({
    settings: options,
    ports: { https: httpsPort, http: httpPort },
    ...rule,
    loopbackV6: addressAvailable("::1"),
    served,
  });
}

/** The dashboard before the service exists (a request in the first moments of a start). */
function starting(): Response {
  return new Response("gotunnel is starting: reload in a moment\n", { status: 503, headers: { "retry-after": "1" } });
}

/** The dashboard (daemon/dashboard) over this daemon's service, gateway and settings. */
function dashboardOf(
  service: DaemonService,
  gateway: Gateway,
  options: DaemonOptions,
  sharesLan: () => boolean,
): Dashboard {
  return new Dashboard({
    ports: () => gateway.ports,
    routes: () => service.routes(),
    certificates: async () => (await gateway.gauges()).certificates,
    log: service.requestLog,
    removeRoute: (name) => service.remove({ names: [name] }),
    ca: gateway.ca,
    version: buildInfo().version,
    lan: {
      routes: () => service.served(),
      lan: options.lan,
      ports: gateway.ports,
      ca: { pem: gateway.ca.certPem, path: gateway.ca.certPath },
      reachesLan: sharesLan,
    },
  });
}

/** Docker discovery when the config turns it on; its routes go through the service's transactions. */
function startDiscovery(options: DaemonOptions, service: DaemonService): DockerDiscovery | undefined {
  if (options.discovery?.docker !== true) return undefined;
  const discovery = new DockerDiscovery({
    env: options.env ?? process.env,
    apply: (name, record) => service.discover(name, record),
    log: options.log,
  });
  service.discovery = discovery;
  discovery.start();
  return discovery;
}

/**
 * The admin port, with a new token for its /debug endpoints (debug.ts) in the runtime dir; or why the port cannot be
 * bound (a warning, and `gotunnel status` says it: the control socket still answers every admin path).
 */
function serveAdmin(port: number, admin: AdminContext, paths: Paths, log: DaemonOptions["log"]) {
  const debug = writeDebugToken(paths.runtimeDir);
  const started = startAdminServer(port, admin, (message) => log("warn", message), debug.token);
  if ("unavailable" in started) return started;
  // A TCP listener always has a port; `port` is optional in Bun's type only for unix sockets.
  return { port: started.server.port ?? 0, debugTokenFile: debug.file, server: started.server };
}

/**
 * OTLP metrics when settings name a metrics URL (the exporter module is imported only then): every interval, the
 * families /metrics shows.
 */
async function startMetricsExport(
  telemetry: TelemetrySettings,
  service: DaemonService,
  log: DaemonOptions["log"],
): Promise<{ shutdown(): Promise<void> } | undefined> {
  const settings = telemetry.otlpMetrics;
  if (!settings) return undefined;
  const { startMetricsExporter } = await import("../telemetry/otlp-metrics.ts");
  log("info", `metrics: exporting to ${settings.metricsUrl} every ${settings.intervalMs} ms`);
  return startMetricsExporter(settings, {
    environment: telemetry.environment,
    startMs: Date.parse(service.status().startedAt),
    collect: () => daemonFamilies(service),
    log,
  });
}

/** `/debug/config`: what this daemon runs with: ports, paths, and where telemetry goes (secrets redacted). */
function effectiveConfig(
  options: DaemonOptions,
  hostsFile: string,
  telemetry: TelemetrySettings | undefined,
): Record<string, unknown> {
  return {
    proxy: options.proxy,
    lan: options.lan ?? null,
    discovery: options.discovery ?? {},
    hostsFile,
    paths: options.paths,
    // Where telemetry goes (OTLP URLs and protocol, Sentry), with the DSN key and exporter header values redacted.
    telemetry: telemetry ? describeSettings(telemetry) : null,
  };
}

interface Running {
  service: DaemonService;
  gateway: Gateway;
  control: { stop(force: boolean): Promise<void> };
  announcer: LanAnnouncer;
  reporter: ErrorReporter;
  socket: string;
}

/**
 * mDNS for shared `.local` routes while the listeners reach the LAN; its events go to the daemon log (conflicts as
 * warnings: the name is not ours).
 */
function startAnnouncer(gateway: Gateway, options: DaemonOptions, sharesLan: () => boolean): LanAnnouncer {
  return lanAnnouncer({
    ports: gateway.ports,
    reachesLan: sharesLan,
    ...(options.lan === undefined ? {} : { lan: options.lan }),
    onEvent: (event) => {
      if (event.type === "conflict") options.log("warn", `mDNS: ${event.name} is already used by ${event.from}`);
      else if (event.type === "warning") {
        options.log("warn", `mDNS: ${event.message}: ${event.error}`);
        // The responder hands over its error as text; the message is what Sentry groups by (scrubbed).
        options.reporter?.report(new Error(`mDNS: ${event.message}: ${event.error}`), { component: "mdns" });
      } else if (event.type === "announced" || event.type === "goodbye")
        options.log("info", `mDNS ${event.type}: ${event.names.join(", ")}`);
    },
  });
}

async function shutdown({ service, gateway, control, announcer, reporter, socket }: Running): Promise<void> {
  forceExitOnSecondSignal();
  service.close();
  // Goodbyes first (RFC 6762 §10.1), so devices drop our names before the listeners go.
  await announcer.stop().catch((error: unknown) => {
    service.warn(`mDNS goodbyes failed: ${String(error)}`);
    reporter.report(error, { component: "mdns" });
  });
  // Control sessions are streams that never end by themselves: cut them; their routes go with the daemon.
  await control.stop(true);
  const grace = setTimeout(() => void gateway.stop(true), SHUTDOWN_GRACE_MS);
  await gateway.stop(false);
  clearTimeout(grace);
  await service.clearHosts();
  rmSync(socket, { force: true });
}
