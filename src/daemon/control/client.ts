/**
 * The control API's client, used by the CLI: `fetch(url, { unix })` to the daemon's socket, every answer validated
 * with the schema the server used. Connection failures become "daemon not running" (exit 7) with the next step.
 */
import * as v from "valibot";
import { type ErrorCode, GotunnelError } from "../../core/errors.ts";
import {
  errorResponseSchema,
  type LogLine,
  logLineSchema,
  logsDroppedSchema,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  type Readiness,
  type ReadyEvent,
  type RequestEventLine,
  readinessSchema,
  readySchema,
  requestEventSchema,
  type SessionEndedLine,
  type StatusResponse,
  sessionEndedSchema,
  statusResponseSchema,
} from "./protocol.ts";

/** Error codes the daemon may send that keep their meaning (and exit code) on this side. */
const KNOWN_CODES = new Set<string>([
  "E_USAGE",
  "E_CONFIG_INVALID",
  "E_DOMAIN_INVALID",
  "E_PORT_IN_USE",
  "E_PORT_PRIVILEGED",
  "E_ADDR_NOT_AVAILABLE",
  "E_TLS",
  "E_DAEMON",
  "E_IO",
]);

export interface LogsQuery {
  /** A route name (`api` means `api.local`); undefined: every route. */
  route?: string;
  /** The newest N buffered lines; undefined: all of them. */
  limit?: number;
  /** Keep the stream open for new requests. */
  follow?: boolean;
}

/** Lines the daemon skipped because this reader fell behind (FOLLOW_BACKLOG_LINES; for `up`, control/batch.ts). */
export interface LogsDropped {
  event: "dropped";
  count: number;
}

const logItemSchema = v.union([logLineSchema, logsDroppedSchema]);
/** An `up` session's lines after the ready one: requests, and what the daemon skipped (control/batch.ts). */
const sessionItemSchema = v.union([requestEventSchema, logsDroppedSchema, sessionEndedSchema]);

export function notRunning(socket: string, cause?: unknown): GotunnelError {
  return new GotunnelError("E_DAEMON", `the gotunnel daemon is not running (no answer on ${socket})`, {
    hint: "start it with `gotunnel daemon` (foreground), or run `gotunnel up` / `gotunnel start`, which start it",
    details: { socket, notRunning: true },
    cause,
  });
}

export function isNotRunning(error: unknown): boolean {
  return error instanceof GotunnelError && error.details?.notRunning === true;
}

export interface ControlClientOptions {
  /**
   * Called once when the socket does not answer: brings back the socket of a daemon that still runs (daemon/reach.ts)
   * and resolves true, so the request is sent again; false: no daemon runs.
   */
  revive?: () => Promise<boolean>;
}

export class ControlClient {
  constructor(
    readonly socket: string,
    private readonly options: ControlClientOptions = {},
  ) {}

  private async send(method: string, path: string, payload?: unknown, signal?: AbortSignal): Promise<Response> {
    try {
      return await this.fetch(method, path, payload, signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      if (!(await this.options.revive?.())) throw notRunning(this.socket, error);
    }
    try {
      return await this.fetch(method, path, payload, signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      throw notRunning(this.socket, error);
    }
  }

  private fetch(method: string, path: string, payload: unknown, signal: AbortSignal | undefined): Promise<Response> {
    return fetch(`http://gotunnel${path}`, {
      method,
      unix: this.socket,
      signal,
      headers: { [PROTOCOL_HEADER]: String(PROTOCOL_VERSION), "content-type": "application/json" },
      ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
    });
  }

  async request<T>(
    method: string,
    path: string,
    schema: v.GenericSchema<unknown, T>,
    payload?: unknown,
    signal?: AbortSignal,
  ): Promise<T> {
    const response = await this.send(method, path, payload, signal);
    return this.parse(response, schema, await response.json());
  }

  private parse<T>(response: Response, schema: v.GenericSchema<unknown, T>, body: unknown): T {
    if (!response.ok) throw this.remoteError(body);
    const parsed = v.safeParse(schema, body);
    if (parsed.success) return parsed.output;
    throw mismatch(`unexpected answer: ${parsed.issues[0]?.message}`);
  }

  private remoteError(body: unknown): GotunnelError {
    const parsed = v.safeParse(errorResponseSchema, body);
    if (!parsed.success) return mismatch("an error answer this gotunnel cannot read");
    const { code, message, hint } = parsed.output.error;
    if (code === "E_PROTOCOL") return mismatch(message);
    const known = (KNOWN_CODES.has(code) ? code : "E_DAEMON") as ErrorCode;
    return new GotunnelError(known, message, hint === undefined ? {} : { hint });
  }

  status(): Promise<StatusResponse> {
    return this.request("GET", "/v1/status", statusResponseSchema);
  }

  /** `GET /health/ready`. A 503 (not-ready) carries the same report, so it is an answer here, not an error. */
  async readiness(): Promise<Readiness> {
    const response = await this.send("GET", "/health/ready");
    const body: unknown = await response.json();
    if (response.status !== 200 && response.status !== 503) throw this.remoteError(body);
    const parsed = v.safeParse(readinessSchema, body);
    if (parsed.success) return parsed.output;
    throw mismatch(`unexpected health answer: ${parsed.issues[0]?.message}`);
  }

  /**
   * Opens an `up` session: resolves with the ready line and an iterator over request events. Aborting `signal`
   * (or this process dying) closes the stream, and the daemon removes the session's routes.
   */
  async openSession(
    payload: unknown,
    signal: AbortSignal,
  ): Promise<{ ready: ReadyEvent; events: AsyncGenerator<RequestEventLine | LogsDropped | SessionEndedLine> }> {
    const response = await this.send("POST", "/v1/sessions", payload, signal);
    if (!response.ok || !response.body) throw this.remoteError(await response.json());
    const lines = ndjson(response.body);
    const first = await lines.next();
    if (first.done) throw mismatch("the session stream ended before its ready line");
    const ready = this.parse(response, readySchema, first.value);
    async function* events(): AsyncGenerator<RequestEventLine | LogsDropped | SessionEndedLine> {
      for await (const line of lines) {
        const parsed = v.safeParse(sessionItemSchema, line);
        if (parsed.success) yield parsed.output;
      }
    }
    return { ready, events: events() };
  }

  /** `GET /v1/logs`: the daemon's buffered request log, then (with `follow`) each new request until `signal` aborts. */
  async logs(query: LogsQuery, signal: AbortSignal): Promise<AsyncGenerator<LogLine | LogsDropped>> {
    const params = new URLSearchParams();
    if (query.route !== undefined) params.set("route", query.route);
    if (query.limit !== undefined) params.set("limit", String(query.limit));
    if (query.follow) params.set("follow", "1");
    const response = await this.send("GET", `/v1/logs?${params}`, undefined, signal);
    if (!response.ok || !response.body) throw this.remoteError(await response.json());
    const lines = ndjson(response.body);
    async function* items(): AsyncGenerator<LogLine | LogsDropped> {
      for await (const line of lines) {
        const parsed = v.safeParse(logItemSchema, line);
        if (parsed.success) yield parsed.output;
      }
    }
    return items();
  }
}

function mismatch(detail: string): GotunnelError {
  return new GotunnelError("E_DAEMON", `the running gotunnel daemon is a different version: ${detail}`, {
    hint: "restart it with this gotunnel: `gotunnel daemon stop`, then run your command again",
  });
}

async function* ndjson(body: ReadableStream<Uint8Array>): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  let partial = "";
  for await (const chunk of body) {
    const parts = (partial + decoder.decode(chunk, { stream: true })).split("\n");
    partial = parts.pop() ?? "";
    // Blank lines are the server's heartbeat.
    for (const part of parts) if (part.trim() !== "") yield JSON.parse(part);
  }
}
