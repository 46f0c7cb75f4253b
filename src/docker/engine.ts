/**
 * The few Docker Engine API calls discovery needs, over the engine's unix socket (Bun's `fetch` with `unix`) or
 * TCP: the running containers with a label, and the event stream. Unversioned paths: the engine then answers in its
 * own current API version (https://docs.docker.com/reference/api/engine/#versioned-api-and-sdk), and every field
 * read here has been in the API since 1.24. Podman's API service answers the same paths.
 */

import * as v from "valibot";
import { textLines } from "../core/lines.ts";
import type { EngineAddress } from "./address.ts";

/** A published port: `publicPort` on `ip` of the engine's host leads to `privatePort` in the container. */
export interface PublishedPort {
  ip: string;
  privatePort: number;
  publicPort: number;
  protocol: string;
}

export interface ContainerSummary {
  id: string;
  /** Without Docker's leading slash; the short id when the engine gives none. */
  name: string;
  /** Seconds since the epoch. */
  created: number;
  labels: Record<string, string>;
  ports: PublishedPort[];
}

/** One container event: what happened (`start`, `die`, …) to which container, with its labels. */
export interface ContainerEvent {
  action: string;
  id: string;
  attributes: Record<string, string>;
}

/** GET /containers/json: only the fields read here; ports without a public side are not published. */
const summarySchema = v.array(
  v.object({
    Id: v.string(),
    Names: v.optional(v.nullable(v.array(v.string())), []),
    Created: v.optional(v.number(), 0),
    Labels: v.optional(v.nullable(v.record(v.string(), v.string())), {}),
    Ports: v.optional(
      v.nullable(
        v.array(
          v.object({
            IP: v.optional(v.string(), ""),
            PrivatePort: v.number(),
            PublicPort: v.optional(v.number()),
            Type: v.optional(v.string(), "tcp"),
          }),
        ),
      ),
      [],
    ),
  }),
);

const eventSchema = v.object({
  Type: v.optional(v.string()),
  Action: v.optional(v.string()),
  Actor: v.optional(
    v.object({ ID: v.optional(v.string(), ""), Attributes: v.optional(v.record(v.string(), v.string()), {}) }),
  ),
});

/** An engine answer that is not what the API documents, with what came back. */
export class EngineError extends Error {}

export class EngineClient {
  constructor(readonly address: EngineAddress) {}

  /** The running containers that carry `label` (any value). */
  async labelled(label: string, signal?: AbortSignal): Promise<ContainerSummary[]> {
    const filters = encodeURIComponent(JSON.stringify({ label: [label] }));
    const response = await this.get(`/containers/json?filters=${filters}`, signal);
    const parsed = v.safeParse(summarySchema, await response.json());
    if (!parsed.success) throw new EngineError(`unexpected container list: ${parsed.issues[0]?.message}`);
    return parsed.output.map((item) => ({
      id: item.Id,
      name: (item.Names ?? [])[0]?.replace(/^\//, "") || item.Id.slice(0, 12),
      created: item.Created,
      labels: item.Labels ?? {},
      ports: (item.Ports ?? []).flatMap((port) =>
        port.PublicPort === undefined || port.PublicPort === 0
          ? []
          : [{ ip: port.IP, privatePort: port.PrivatePort, publicPort: port.PublicPort, protocol: port.Type }],
      ),
    }));
  }

  /**
   * Opens the container event stream (resolves once the engine has answered, so a list taken after it misses
   * nothing); the events come until `signal` aborts or the engine closes the stream. Filtered by type only:
   * Podman 4's events endpoint matches a `label` filter only as key=value, never a bare key as Docker does.
   */
  async openEvents(signal: AbortSignal): Promise<AsyncGenerator<ContainerEvent>> {
    const filters = encodeURIComponent(JSON.stringify({ type: ["container"] }));
    // No idle timeout: a quiet engine sends nothing for hours (Bun's default would cut the stream after 5 minutes).
    const response = await this.get(`/events?filters=${filters}`, signal, false);
    return containerEvents(response.body);
  }

  private async get(path: string, signal?: AbortSignal, timeout?: false): Promise<Response> {
    const { address } = this;
    const url =
      address.kind === "unix"
        ? `http://localhost${path}`
        : `http://${address.host.includes(":") ? `[${address.host}]` : address.host}:${address.port}${path}`;
    const response = await fetch(url, {
      ...(address.kind === "unix" ? { unix: address.path } : {}),
      ...(signal ? { signal } : {}),
      ...(timeout === false ? { timeout: false } : {}),
    });
    if (!response.ok) {
      const body = (await response.text()).trim().slice(0, 200);
      throw new EngineError(`GET ${path.split("?")[0]} answered ${response.status}${body ? `: ${body}` : ""}`);
    }
    return response;
  }
}

async function* containerEvents(body: ReadableStream<Uint8Array> | null): AsyncGenerator<ContainerEvent> {
  if (!body) return;
  // The engine's event stream is JSON objects one per line (Docker ends each with a newline; so does Podman).
  for await (const line of textLines(body)) {
    const parsed = v.safeParse(eventSchema, safeJson(line));
    if (!parsed.success || parsed.output.Type !== "container") continue;
    const { Action = "", Actor } = parsed.output;
    yield { action: Action, id: Actor?.ID ?? "", attributes: Actor?.Attributes ?? {} };
  }
}

/** A line that is not JSON is skipped by the caller (schema mismatch), never fatal to the stream. */
function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    // Not an event we can read (a proxy's banner, a truncated line): the schema check skips it.
    return undefined;
  }
}

/**
 * What a failed call to the engine means, in words: Bun's own messages for a socket error speak of URLs ("Was there
 * a typo in the url or port?"), which misleads for a unix socket.
 */
export function engineProblem(error: unknown, address: EngineAddress): string {
  const code = (error as { code?: unknown }).code;
  const where = address.kind === "unix" ? address.path : address.text;
  if (code === "ENOENT") return `no socket at ${where}: is the engine running?`;
  if (code === "ECONNREFUSED") return `nothing accepts connections at ${where}: is the engine running?`;
  if (code === "EACCES" || code === "EPERM") {
    return `permission denied on ${where}: the daemon runs as you (join the docker group, or use rootless Docker or Podman)`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return typeof code === "string" && !message.includes(code) ? `${code}: ${message}` : message;
}
