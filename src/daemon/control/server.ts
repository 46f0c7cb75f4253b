/**
 * The control API's server: HTTP + JSON on a unix socket only its owner can open (directory 0700, socket 0600).
 * Every body is validated with the same valibot schemas the client uses. Documented in docs/control-api.md.
 */
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Server } from "bun";
import * as v from "valibot";
import { GotunnelError, isGotunnelError } from "../../core/errors.ts";
import { type AdminContext, adminResponse } from "../admin.ts";
import type { DaemonService } from "../service.ts";
import {
  addRoutesRequestSchema,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  type RequestEventLine,
  removeRoutesRequestSchema,
} from "./protocol.ts";

export const SOCKET_FILE = "control.sock";
const SOCKET_DIR_MODE = 0o700;
const SOCKET_MODE = 0o600;
/**
 * A blank line this often on quiet session streams: Bun's types allow no `idleTimeout` for a unix socket, so we
 * keep writing well inside the default 10 s idle timeout to keep an `up` session open for as long as it runs.
 */
const SESSION_HEARTBEAT_MS = 4_000;

export function socketPath(runtimeDir: string): string {
  return join(runtimeDir, SOCKET_FILE);
}

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

/** Binds the socket. The caller holds the daemon lock, so a socket file left by a killed daemon is stale. */
export function startControlServer(options: ControlServerOptions): Server<undefined> {
  mkdirSync(dirname(options.path), { recursive: true, mode: SOCKET_DIR_MODE });
  chmodSync(dirname(options.path), SOCKET_DIR_MODE);
  rmSync(options.path, { force: true });
  const server = Bun.serve({
    unix: options.path,
    fetch: (request) => handle(request, options).catch(errorResponse),
  });
  chmodSync(options.path, SOCKET_MODE);
  return server;
}

async function handle(request: Request, options: ControlServerOptions): Promise<Response> {
  const { service } = options;
  const { pathname } = new URL(request.url);
  const key = `${request.method} ${pathname}`;
  // Status always answers, so an older or newer client can still say which versions disagree.
  if (key === "GET /v1/status") return json(service.status());
  // Admin paths are unversioned too: probes and scrapers send no protocol header.
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
    case "POST /v1/shutdown":
      // After this answer is written: shutdown cuts every control connection.
      setTimeout(options.onShutdown, 0);
      return json({ ok: true });
    default:
      return json({ error: { code: "E_NOT_FOUND", message: `no such endpoint: ${key}` } }, 404);
  }
}

/**
 * `up`: adds routes owned by this session and streams NDJSON (the ready line, then one line per request to them).
 * When the client goes away for any reason, including SIGKILL, its socket closes and the routes are removed.
 */
async function openSession(request: Request, service: DaemonService): Promise<Response> {
  const sessionId = crypto.randomUUID();
  const ready = await service.add(await body(request, addRoutesRequestSchema), sessionId);
  const encoder = new TextEncoder();
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    void service.endSession(sessionId);
  };
  request.signal.addEventListener("abort", end);
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (line: unknown) => controller.enqueue(encoder.encode(`${JSON.stringify(line)}\n`));
      send(ready);
      service.listen(sessionId, (event: RequestEventLine) => send(event));
      heartbeat = setInterval(() => controller.enqueue(encoder.encode("\n")), SESSION_HEARTBEAT_MS);
    },
    cancel: end,
  });
  return new Response(stream, { headers: { "content-type": "application/x-ndjson" } });
}
