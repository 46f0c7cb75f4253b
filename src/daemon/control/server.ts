/**
 * The control API's server: HTTP + JSON on a unix socket only its owner can open (directory 0700, socket 0600).
 * Every body is validated with the same valibot schemas the client uses. Documented in docs/control-api.md.
 */
import { basename, dirname } from "node:path";
import type { Server } from "bun";
import * as v from "valibot";
import { GotunnelError, isGotunnelError } from "../../core/errors.ts";
import { withOwnedDir } from "../../platform/safe-fs.ts";
import { type AdminContext, adminResponse } from "../admin.ts";
import { debugResponse } from "../debug.ts";
import { follow } from "../follow.ts";
import { REQUEST_LOG_CAPACITY } from "../request-log.ts";
import type { DaemonService } from "../service.ts";
import { DELIVERY_LOG_CAPACITY } from "../webhooks/notifier.ts";
import { LineBatcher } from "./batch.ts";
import {
  addRoutesRequestSchema,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  type RequestEventLine,
  removeRoutesRequestSchema,
  type SessionEndedLine,
  type WebhooksResponse,
} from "./protocol.ts";
import { LineSummary } from "./summary.ts";

const SOCKET_DIR_MODE = 0o700;
/** What bind(2) leaves of 0777 for the socket file: 0600, the owner only. */
const SOCKET_UMASK = 0o177;
/**
 * A blank line this often on quiet session streams: Bun's types allow no `idleTimeout` for a unix socket, so we
 * keep writing well inside the default 10 s idle timeout to keep an `up` session open for as long as it runs.
 */
const SESSION_HEARTBEAT_MS = 4_000;
/**
 * Lines a `logs -f` stream may hold for a reader that does not keep up. Past it, new lines are dropped and counted
 * (a `dropped` line tells the reader), so a stalled terminal costs bounded memory and never slows the proxy.
 */
const FOLLOW_BACKLOG_LINES = 1_000;

export interface ControlServerOptions {
  path: string;
  service: DaemonService;
  /** Health, metrics, version and config (daemon/admin.ts), answered here as on the admin port. */
  admin: AdminContext;
  /** `POST /v1/shutdown`: the daemon stops as if it got SIGTERM. */
  onShutdown(): void;
}

const json = (body: unknown, status = 200) => Response.json(body, { status });

function errorResponse(error: unknown): Response {
  if (isGotunnelError(error)) {
    const status = error.code === "E_USAGE" ? 409 : 500;
    return json({ error: { code: error.code, message: error.message, hint: error.hint } }, status);
  }
  const message = error instanceof Error ? error.message : String(error);
  return json({ error: { code: "E_INTERNAL", message } }, 500);
}

async function body<T>(request: Request, schema: v.GenericSchema<unknown, T>): Promise<T> {
  const parsed = v.safeParse(schema, await request.json());
  if (parsed.success) return parsed.output;
  const issue = parsed.issues[0];
  const where = issue?.path?.map((item) => String(item.key)).join(".") ?? "(body)";
  throw new GotunnelError("E_USAGE", `invalid control request at ${where}: ${issue?.message}`);
}

/** How long a connect to an existing socket may take before its listener counts as there (a full backlog). */
const PROBE_TIMEOUT_MS = 1_000;

/**
 * Fails when a process listens on `path`. The daemon lock says no other daemon shares our state dir, but a daemon
 * whose lock file was removed (daemon/presence.ts restores it within a second), or one started with another state dir
 * and the same runtime dir, may still serve this socket: binding would take it from them.
 */
export async function assertNoListener(path: string): Promise<void> {
  const listening = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(true), PROBE_TIMEOUT_MS);
    const answer = (value: boolean) => {
      clearTimeout(timer);
      resolve(value);
    };
    Bun.connect({
      unix: path,
      socket: {
        open(socket) {
          socket.end();
          answer(true);
        },
        data() {},
      },
    }).then(undefined, () => answer(false)); // No file, or nobody listening: the path is free.
  });
  if (!listening) return;
  throw new GotunnelError("E_DAEMON", `a gotunnel daemon already listens on ${path}`, {
    hint: "use it (`gotunnel status`), or stop it with `gotunnel daemon stop` and run your command again",
    details: { socket: path },
  });
}

/**
 * Binds the socket. The caller holds the daemon lock, so a socket file left by a killed daemon is stale. The directory
 * is created and checked through safe-fs (under sudo: the invoking user's, never a link). The socket is created under
 * a umask that makes it 0600 at once: a chmod by path after the bind could be sent through a link the user put there
 * in between (to open up /etc/shadow, say). Under sudo it is then handed to the user, who runs the CLI.
 */
export function startControlServer(options: ControlServerOptions): Server<undefined> {
  const name = basename(options.path);
  return withOwnedDir(dirname(options.path), SOCKET_DIR_MODE, (dir) => {
    dir.chmod(SOCKET_DIR_MODE);
    dir.remove(name);
    const umask = process.umask(SOCKET_UMASK);
    let server: Server<undefined>;
    try {
      server = Bun.serve({
        unix: options.path,
        fetch: (request, bun) => handle(request, options, bun).catch(errorResponse),
      });
    } finally {
      process.umask(umask);
    }
    dir.handBack(name);
    return server;
  });
}

async function handle(request: Request, options: ControlServerOptions, server: Server<undefined>): Promise<Response> {
  const { service } = options;
  const { pathname } = new URL(request.url);
  const key = `${request.method} ${pathname}`;
  // Status always answers, so an older or newer client can still say which versions disagree.
  if (key === "GET /v1/status") return json(service.status());
  // Admin paths are unversioned too: probes and scrapers send no protocol header. Only the owner can open the socket,
  // so the profiling endpoints need no token here.
  const debug = await debugResponse(request, { server, trim: service.trim });
  if (debug) return debug;
  const admin = await adminResponse(request.method, pathname, options.admin);
  if (admin) return admin;
  const version = request.headers.get(PROTOCOL_HEADER);
  if (version !== String(PROTOCOL_VERSION)) {
    const message = `the daemon speaks control protocol ${PROTOCOL_VERSION}, the client ${version ?? "none"}`;
    return json({ error: { code: "E_PROTOCOL", message } }, 400);
  }
  switch (key) {
    case "GET /v1/routes":
      return json({ routes: await service.routes() });
    case "POST /v1/routes":
      return json(await service.add(await body(request, addRoutesRequestSchema)));
    case "POST /v1/routes/remove":
      return json({ removed: await service.remove(await body(request, removeRoutesRequestSchema)) });
    case "POST /v1/sessions":
      return openSession(request, service);
    case "GET /v1/logs":
      return streamLogs(request, service);
    case "GET /v1/webhooks":
      return json(webhookLog(service, new URL(request.url).searchParams.get("limit")));
    case "POST /v1/shutdown":
      // After this answer is written: shutdown cuts every control connection.
      setTimeout(options.onShutdown, 0);
      return json({ ok: true });
    default:
      return json({ error: { code: "E_NOT_FOUND", message: `no such endpoint: ${key}` } }, 404);
  }
}

/**
 * `up`: adds routes owned by this session and streams NDJSON (the ready line, then one line per request to them, or
 * with `?lines=summary` a busy second's summary in place of most of its lines).
 * When the client goes away for any reason, including SIGKILL, its socket closes and the routes are removed.
 */
async function openSession(request: Request, service: DaemonService): Promise<Response> {
  const sessionId = crypto.randomUUID();
  const ready = await service.add(await body(request, addRoutesRequestSchema), sessionId);
  const encoder = new TextEncoder();
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let batcher: LineBatcher | undefined;
  let summary: LineSummary | undefined;
  // `up` in text mode asks for a busy second's successes as one line (control/summary.ts); `up --json` gets them all.
  const summarize = new URL(request.url).searchParams.get("lines") === "summary";
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    summary?.close();
    batcher?.close();
    void service.endSession(sessionId);
  };
  request.signal.addEventListener("abort", end);
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(`${JSON.stringify(ready)}\n`));
      const lines = new LineBatcher(controller);
      batcher = lines;
      const counted = summarize ? new LineSummary((line) => lines.push(line)) : undefined;
      summary = counted;
      const routesGone = (reason: string) => {
        counted?.closeWindow();
        lines.push({ event: "ended", reason } satisfies SessionEndedLine);
        lines.flush();
        end();
        controller.close();
      };
      const forward = counted
        ? (event: RequestEventLine) => counted.push(event)
        : (event: RequestEventLine) => lines.push(event);
      service.listen(sessionId, forward, routesGone);
      heartbeat = setInterval(() => controller.enqueue(encoder.encode("\n")), SESSION_HEARTBEAT_MS);
    },
    cancel: end,
  });
  return new Response(stream, { headers: { "content-type": "application/x-ndjson" } });
}

/** `?limit=N`: a positive integer, at most the buffer's size; absent: the whole buffer. */
function limitParam(value: string | null): number {
  if (value === null) return REQUEST_LOG_CAPACITY;
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new GotunnelError("E_USAGE", `invalid control request at limit: expected a positive integer, got ${value}`);
  }
  return Math.min(Number(value), REQUEST_LOG_CAPACITY);
}

/** `gotunnel logs --webhooks`: the last deliveries' outcomes and the queue's counters. */
function webhookLog(service: DaemonService, limit: string | null): WebhooksResponse {
  const webhooks = service.webhooks;
  if (!webhooks) return { deliveries: [], queued: 0, delivered: 0, retried: 0, failed: 0, dropped: 0 };
  const count = limit === null ? DELIVERY_LOG_CAPACITY : Math.min(limitParam(limit), DELIVERY_LOG_CAPACITY);
  return { deliveries: webhooks.deliveries(count), ...webhooks.stats() };
}

/**
 * `gotunnel logs`: the buffered request log as NDJSON, filtered by `route`; with `follow=1` the stream stays open
 * and carries each new request until the client goes away. History and subscription happen in one turn of the
 * event loop, so a follower misses no request and sees none twice.
 */
function streamLogs(request: Request, service: DaemonService): Response {
  const params = new URL(request.url).searchParams;
  const name = params.get("route");
  const route = name === null ? undefined : service.logRoute(name);
  const history = service.requestLog.lines(route, limitParam(params.get("limit")));
  const encoder = new TextEncoder();
  const encode = (line: unknown) => encoder.encode(`${JSON.stringify(line)}\n`);
  let stop: () => void = () => undefined;
  const stream = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        for (const line of history) controller.enqueue(encode(line));
        if (params.get("follow") !== "1") return controller.close();
        // Bun sends the headers with the first chunk: a blank line (ignored, like the heartbeat) answers at once.
        controller.enqueue(encoder.encode("\n"));
        stop = follow(controller, {
          subscribe: (deliver) => service.requestLog.follow(route, deliver),
          encode,
          dropped: (count) => encode({ event: "dropped", count }),
          heartbeat: encoder.encode("\n"),
          heartbeatMs: SESSION_HEARTBEAT_MS,
        });
        request.signal.addEventListener("abort", () => stop());
      },
      cancel: () => stop(),
    },
    { highWaterMark: history.length + FOLLOW_BACKLOG_LINES },
  );
  return new Response(stream, { headers: { "content-type": "application/x-ndjson" } });
}
