/**
 * The upstream seam for a route with several backends: each attempt goes to the backend the route's Balancer picks,
 * counted in flight until its response is over. A backend that fails (refused, reset, a connect timeout) or answers
 * 502 is marked down, and the request is tried on another backend when that is safe: its method is idempotent
 * (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, PUT, DELETE, TRACE may be retried automatically) and it has no body, so no
 * body byte can have been sent and lost. A POST is never retried; its client gets the 502.
 */
import type { Backend, Balancer } from "./balancer.ts";
import type { OutgoingRequest, Upstream } from "./forward.ts";

const ONCE = { once: true } as const;
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);

/** Error kinds (upstream/errors.ts) and codes (Bun's fetch) that say the backend itself is not there. */
const BACKEND_FAILURES: ReadonlySet<string> = new Set([
  "refused",
  "reset",
  "timeout",
  "dns",
  "ConnectionRefused",
  "ECONNREFUSED",
  "ECONNRESET",
  "ConnectionClosed",
  "ETIMEDOUT",
]);

/** Why `error` means the backend is down, or undefined when it does not (a client's timeout, a bug). */
export function backendFailure(error: unknown): string | undefined {
  const failure = error as { kind?: unknown; code?: unknown } | null;
  const kind = typeof failure?.kind === "string" ? failure.kind : failure?.code;
  if (typeof kind !== "string" || !BACKEND_FAILURES.has(kind)) return undefined;
  return error instanceof Error ? error.message : kind;
}

/** Whether a request may be sent again after a backend failed it. */
export function mayRetry(request: OutgoingRequest): boolean {
  return request.body === null && IDEMPOTENT_METHODS.has(request.method);
}

export function balancedUpstream(balancer: Balancer, upstream: Upstream): Upstream {
  return (route, request) => send(balancer, upstream, route, request);
}

async function send(
  balancer: Balancer,
  upstream: Upstream,
  route: Parameters<Upstream>[0],
  request: OutgoingRequest,
): Promise<Response> {
  const retry = mayRetry(request);
  const onEnd = request.onResponseEnd;
  let tried = 0;
  for (;;) {
    const backend = balancer.pick(tried) as Backend;
    tried |= backend.bit;
    const attempt = new Attempt(backend, onEnd);
    request.target = backend.target;
    request.onResponseEnd = attempt.ended;
    let response: Response;
    try {
      response = await upstream(route, request);
    } catch (error) {
      attempt.release();
      const reason = request.signal.aborted ? undefined : backendFailure(error);
      if (reason === undefined) throw error;
      balancer.failed(backend, reason);
      if (retry && balancer.hasUntried(tried)) continue;
      throw error;
    }
    if (response.status !== 502) {
      balancer.succeeded(backend);
      // The pooled client reports a body the client cancels (onResponseEnd); fetch, used for https:// backends,
      // does not, so there a client that goes away mid-body ends the attempt through its signal.
      if (backend.target.protocol === "https:") request.signal.addEventListener("abort", () => attempt.release(), ONCE);
      return response;
    }
    balancer.failed(backend, `${backend.target.origin} answered 502`);
    if (!retry || !balancer.hasUntried(tried)) return response;
    // This answer is dropped: its end must not restart the client connection's keep-alive timer (handler.ts).
    attempt.discard();
    await response.body?.cancel().catch(ignoreCancelFailure);
  }
}

/** One try on one backend: in flight from the send until its response is over, counted down exactly once. */
class Attempt {
  private done = false;
  private discarded = false;
  readonly ended: () => void;

  constructor(
    private readonly backend: Backend,
    onEnd: (() => void) | undefined,
  ) {
    backend.inFlight++;
    backend.requests++;
    this.ended = () => {
      this.release();
      if (!this.discarded) onEnd?.();
    };
  }

  release(): void {
    if (this.done) return;
    this.done = true;
    this.backend.inFlight--;
  }

  discard(): void {
    this.discarded = true;
    this.release();
  }
}

/** A dropped 502 body that fails to cancel has nothing left to tell: its socket is the pool's to close. */
function ignoreCancelFailure(_error: unknown): void {}
