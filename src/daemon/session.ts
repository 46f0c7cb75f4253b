/**
 * The client side of an `up` session: open the stream, hand each request event to the caller, and end the session
 * on SIGINT/SIGTERM/SIGHUP by closing the stream (the daemon then removes the session's routes). If this process is
 * killed outright, the kernel closes the socket and the daemon does the same.
 */
import type { ResolvedRoute } from "../config/load.ts";
import type { Webhook } from "../config/notify.ts";
import { GotunnelError } from "../core/errors.ts";
import type { ControlClient, SessionLines } from "./control/client.ts";
import type { AddRoutesRequest, ReadyEvent, RequestEventLine, SessionSummaryLine } from "./control/protocol.ts";
import { nextSignal } from "./signals.ts";

/**
 * `globalLan` is the config's `lan`: each route is sent with its own `lan`, or that; with neither, none, so the daemon
 * can tell a default from an explicit `lan: true` (only the latter opens the LAN for a name mDNS cannot announce).
 * `notify` is the config's webhooks: every route it adds carries them, for the daemon to call on its events.
 */
export function wireRoutes(
  routes: readonly ResolvedRoute[],
  globalLan?: boolean,
  notify: readonly Webhook[] = [],
): AddRoutesRequest["routes"] {
  return routes.map((route) => {
    const { name, wildcard, target, https, headers, preserveHost, lan = globalLan, rewriteOrigin } = route;
    const { targets, policy, health } = route;
    return {
      name,
      wildcard,
      target: wireTarget(target),
      https,
      headers,
      preserveHost,
      ...(lan === undefined ? {} : { lan }),
      ...(rewriteOrigin === undefined || rewriteOrigin.length === 0 ? {} : { rewriteOrigin }),
      ...(notify.length === 0 ? {} : { notify: [...notify] }),
      ...(targets === undefined || targets.length < 2 ? {} : { targets: targets.map(wireTarget) }),
      ...(targets === undefined || policy === undefined ? {} : { policy }),
      ...(targets === undefined || health === undefined ? {} : { health: { ...health } }),
    };
  });
}

function wireTarget(target: ResolvedRoute["target"]): ResolvedRoute["target"] {
  return { protocol: target.protocol, hostname: target.hostname, port: target.port, origin: target.origin };
}

export interface SessionHandlers {
  onReady(ready: ReadyEvent): void;
  onRequest(event: RequestEventLine): void;
  /** With `lines: "summary"`: the requests of a busy second that were counted instead of sent (control/summary.ts). */
  onSummary?(summary: SessionSummaryLine): void;
  /** The daemon skipped `count` request lines because this process did not read them fast enough. */
  onDropped?(count: number): void;
  onStop?(signal: NodeJS.Signals): void;
  /**
   * Ends the session when it settles (`up`'s dev servers all exited): a rejection is thrown from runSession, after
   * the session is closed.
   */
  until?: Promise<never>;
}

/** How a session ended: a stop signal, or the daemon ending it because another command removed its routes. */
export type SessionEnd = { signal: NodeJS.Signals } | { ended: string };

/**
 * Resolves with what ended the session; throws E_DAEMON if the daemon went away first, and what `until` rejects
 * with if it settles first.
 */
export async function runSession(
  client: ControlClient,
  request: AddRoutesRequest,
  handlers: SessionHandlers,
  lines: SessionLines = "all",
): Promise<SessionEnd> {
  const abort = new AbortController();
  const signalled = nextSignal().then((signal): SessionEnd => ({ signal }));
  const { ready, events } = await client.openSession(request, abort.signal, lines);
  handlers.onReady(ready);
  const streamEnded = (async (): Promise<SessionEnd | undefined> => {
    for await (const event of events) {
      if (event.event === "ended") return { ended: event.reason };
      if (event.event === "dropped") handlers.onDropped?.(event.count);
      else if (event.event === "summary") handlers.onSummary?.(event);
      else handlers.onRequest(event);
    }
    return undefined;
  })();
  // A stream that ends or breaks (the daemon stopped or crashed) ends the session the same way.
  const broken = streamEnded.catch((): undefined => undefined);
  const settled = handlers.until?.catch((error: unknown) => ({ error })) ?? new Promise<never>(() => undefined);
  const outcome = await Promise.race([signalled, broken, settled]);
  abort.abort();
  // The abort rejects the pending read: that is how this session ends, not an error.
  await streamEnded.catch((error: unknown) => {
    if (!abort.signal.aborted) throw error;
  });
  if (outcome === undefined) {
    throw new GotunnelError("E_DAEMON", "the gotunnel daemon stopped, so this session's routes are gone", {
      hint: "run `gotunnel up` again to start a new daemon",
    });
  }
  if ("error" in outcome) throw outcome.error;
  if ("signal" in outcome) handlers.onStop?.(outcome.signal);
  return outcome;
}
