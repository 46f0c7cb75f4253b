/**
 * The daemon's side of the certificate issuer (child.ts): starts `gotunnel __issue-certificates` when a certificate
 * is needed, sends it requests, and closes its stdin once it has been idle for a while, which ends it. A burst of
 * route changes (a script running `gotunnel start` five times) pays one spawn; a daemon at rest keeps no issuer.
 *
 * A child that fails in any way (exits, is killed, writes something that is not an answer, takes too long) fails
 * only the requests it had, with an E_TLS error saying what happened; the next request starts a new child. The CA
 * files are only ever written by loadOrCreateCA inside the child, which writes them atomically (ca.ts), so a child
 * killed mid-way leaves the CA as it was, or not created at all.
 */
import type { Subprocess } from "bun";
import { type ErrorCode, GotunnelError } from "../../core/errors.ts";
import { textLines } from "../../core/lines.ts";
import type { LocalCA } from "../ca.ts";
import type { LeafCertificate } from "../leaf.ts";
import {
  caFromWire,
  encodeLine,
  ISSUER_COMMAND,
  type IssuerAnswer,
  type IssuerRequest,
  leafFromWire,
  parseAnswer,
} from "./protocol.ts";

/**
 * How long an idle issuer is kept. Long enough that the commands of one burst (each takes well under a second) share
 * it; short enough that the ~20 MiB it holds is gone soon after.
 */
export const ISSUER_IDLE_MS = 10_000;
/**
 * The bound on one answer. Loading the modules takes ~100 ms and a leaf a few ms (CA creation ~25 ms): this only
 * catches an issuer that hangs (stopped, swapped out, deadlocked), on a machine that may be very busy.
 */
export const ISSUER_ANSWER_TIMEOUT_MS = 20_000;
/** Environment overrides of the two above, in milliseconds, for tests and for diagnosing a slow machine. */
export const ISSUER_IDLE_ENV = "GOTUNNEL_ISSUER_IDLE_MS";
export const ISSUER_TIMEOUT_ENV = "GOTUNNEL_ISSUER_TIMEOUT_MS";

/** The codes an issuer's own errors carry (ca.ts, leaf.ts, safe-fs.ts); anything else arrives as E_TLS. */
const KNOWN_CODES = new Set<string>(["E_TLS", "E_DOMAIN_INVALID", "E_IO"]);

export interface IssuerOptions {
  /** How to run this gotunnel again (daemon/spawn.ts selfCommand()). */
  command: readonly string[];
  /** The CA directory the requests will name: the child loads that CA as it starts (child.ts runIssuer). */
  caDir?: string;
  idleMs?: number;
  answerTimeoutMs?: number;
}

/** The timings from the environment (ISSUER_IDLE_ENV, ISSUER_TIMEOUT_ENV); a value that is not a count is ignored. */
export function issuerTimings(
  env: Record<string, string | undefined>,
): Pick<IssuerOptions, "idleMs" | "answerTimeoutMs"> {
  const count = (value: string | undefined) => (value && /^\d+$/.test(value) ? Number(value) : undefined);
  const idleMs = count(env[ISSUER_IDLE_ENV]);
  const answerTimeoutMs = count(env[ISSUER_TIMEOUT_ENV]);
  return { ...(idleMs === undefined ? {} : { idleMs }), ...(answerTimeoutMs === undefined ? {} : { answerTimeoutMs }) };
}

interface Pending {
  what: string;
  resolve(answer: IssuerAnswer): void;
  reject(error: GotunnelError): void;
  timer: Timer;
}

type Child = Subprocess<"pipe", "pipe", "inherit">;
type Request = IssuerRequest extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never;

export class CertificateIssuer {
  readonly #command: readonly string[];
  readonly #caDir: string | undefined;
  readonly #idleMs: number;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  #child: Child | undefined;
  #idleTimer: Timer | undefined;
  #nextId = 1;
  #closed = false;

  constructor(options: IssuerOptions) {
    this.#command = options.command;
    this.#caDir = options.caDir;
    this.#idleMs = options.idleMs ?? ISSUER_IDLE_MS;
    this.#timeoutMs = options.answerTimeoutMs ?? ISSUER_ANSWER_TIMEOUT_MS;
  }

  /** The issuer's pid while one runs (for tests and the daemon's log). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * Starts the child now, so its module loading overlaps the caller's own start-up. It stays for the idle period
   * unless a request comes.
   */
  warm(): void {
    if (this.#closed) return;
    try {
      this.#running();
    } catch {
      // Not reported here: the first request starts it again and fails with the reason (#ask), to the command that
      // needed the certificate.
      return;
    }
    if (this.#pending.size === 0) this.#armIdle();
  }

  /** The CA in caDir (loadCA), or with `create` a new one when there is none (loadOrCreateCA). */
  async loadCA(caDir: string, options: { create: boolean }): Promise<{ ca: LocalCA; created: boolean }> {
    const what = `loading the CA in ${caDir}`;
    const answer = await this.#ask({ op: "ca", caDir, create: options.create }, what);
    if (!("ca" in answer)) throw failure("it answered without a CA")(what);
    return { ca: caFromWire(answer.ca), created: answer.created };
  }

  /** A leaf for `names`, signed by `ca` (which must still be the CA on disk). */
  async issue(ca: LocalCA, caDir: string, names: string[], now: Date): Promise<LeafCertificate> {
    const what = `issuing a certificate for ${names.join(", ")}`;
    const request = { op: "leaf" as const, caDir, ca: ca.fingerprintSha256, names, now: now.toISOString() };
    const answer = await this.#ask(request, what);
    if (!("leaf" in answer)) throw failure("it answered without a certificate")(what);
    return leafFromWire(answer.leaf);
  }

  /** Ends the child (it exits at end of input); later requests fail. */
  close(): void {
    this.#closed = true;
    this.#release();
  }

  #ask(request: Request, what: string): Promise<IssuerAnswer> {
    if (this.#closed) return Promise.reject(failure("the daemon is shutting down")(what));
    const id = this.#nextId++;
    let child: Child;
    try {
      child = this.#running();
    } catch (error) {
      // The executable the daemon runs from was moved or deleted (an upgrade): it cannot run itself again.
      return Promise.reject(
        new GotunnelError("E_TLS", `gotunnel's certificate issuer could not be started: ${String(error)}.`, {
          hint: `Was ${this.#command[0]} moved or replaced while the daemon ran? Restart the daemon (\`gotunnel daemon stop\`, then your command again).`,
          details: { command: this.#command },
          cause: error,
        }),
      );
    }
    clearTimeout(this.#idleTimer);
    return new Promise<IssuerAnswer>((resolve, reject) => {
      const timer = setTimeout(() => {
        // A child that does not answer in time is of no more use: kill it, so its other requests fail now and the
        // next one gets a fresh child. SIGKILL also ends a stopped process.
        this.#fail(child, failure(`it did not answer within ${this.#timeoutMs / 1000} s and was stopped`));
        child.kill("SIGKILL");
      }, this.#timeoutMs);
      this.#pending.set(id, { what, resolve, reject, timer });
      try {
        child.stdin.write(encodeLine({ ...request, id } as IssuerRequest));
        child.stdin.flush();
      } catch (error) {
        this.#fail(child, failure(`its input pipe is closed (${String(error)})`));
      }
    }).then((answer) => {
      if (answer.ok) return answer;
      throw fromWire(answer.error);
    });
  }

  /** The running child, or a new one. */
  #running(): Child {
    if (this.#child) return this.#child;
    const argv = [...this.#command, ISSUER_COMMAND, ...(this.#caDir === undefined ? [] : [this.#caDir])];
    const child: Child = Bun.spawn(argv, {
      stdin: "pipe",
      stdout: "pipe",
      // Its stderr is the daemon's (daemon.log): a crash's stack trace lands next to the daemon's own lines.
      stderr: "inherit",
    });
    // The issuer never keeps the daemon (or a command that ran a gateway) alive by itself.
    child.unref();
    this.#child = child;
    void this.#read(child);
    void child.exited.then(() => this.#fail(child, exitedFailure(child)));
    return child;
  }

  async #read(child: Child): Promise<void> {
    try {
      for await (const line of textLines(child.stdout)) this.#settle(child, line);
    } catch (error) {
      this.#fail(child, failure(`its output could not be read (${String(error)})`));
    }
  }

  #settle(child: Child, line: string): void {
    let answer: IssuerAnswer;
    try {
      answer = parseAnswer(line);
    } catch (error) {
      this.#fail(child, failure(`it wrote a line that is not an answer (${String(error)})`));
      child.kill("SIGKILL");
      return;
    }
    const pending = this.#pending.get(answer.id);
    if (!pending) {
      this.#fail(child, failure(`it answered request ${answer.id}, which is not waiting`));
      child.kill("SIGKILL");
      return;
    }
    this.#pending.delete(answer.id);
    clearTimeout(pending.timer);
    pending.resolve(answer);
    if (this.#pending.size === 0) this.#armIdle();
  }

  /** Fails every request `child` had and forgets it; a later request starts a new child. */
  #fail(child: Child, error: Failure): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    clearTimeout(this.#idleTimer);
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error(pending.what));
    }
    this.#pending.clear();
  }

  #armIdle(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.#release(), this.#idleMs);
    this.#idleTimer.unref();
  }

  /** Closes the idle child's stdin: it finishes and exits by itself. */
  #release(): void {
    clearTimeout(this.#idleTimer);
    const child = this.#child;
    if (!child || this.#pending.size > 0) return;
    this.#child = undefined;
    try {
      child.stdin.end();
    } catch {
      // Already closed: the child is gone or going, which is what ending it asks for.
    }
  }
}

const RETRY_HINT =
  "Nothing was changed: the routes already served keep working. Run the command again; if it keeps failing, " +
  "daemon.log in gotunnel's state directory has the issuer's own output.";

/** What went wrong with the child, worded for each request it had (`what`: "issuing a certificate for a.local"). */
type Failure = (what: string) => GotunnelError;

function failure(why: string): Failure {
  return (what) =>
    new GotunnelError("E_TLS", `gotunnel's certificate issuer failed while ${what}: ${why}.`, {
      hint: RETRY_HINT,
      details: { issuer: ISSUER_COMMAND },
    });
}

function exitedFailure(child: Child): Failure {
  const how =
    child.signalCode !== null ? `it was killed by ${child.signalCode}` : `it exited with code ${child.exitCode}`;
  return failure(`${how} (pid ${child.pid})`);
}

function fromWire(error: { code: string; message: string; hint?: string; details?: Record<string, unknown> }) {
  const code = (KNOWN_CODES.has(error.code) ? error.code : "E_TLS") as ErrorCode;
  return new GotunnelError(code, error.message, {
    ...(error.hint === undefined ? {} : { hint: error.hint }),
    ...(error.details === undefined ? {} : { details: error.details }),
  });
}
