/**
 * Imports a JS/TS config file in a Worker, with a time limit. A config is code: it can loop forever (a synchronous
 * `while (true) {}` blocks its thread, so a timer in that thread never fires), await a promise that never settles,
 * or call `process.exit()`. Checked on Bun 1.4.5, from source and in a compiled binary: `worker.terminate()`
 * interrupts a busy loop, and `process.exit(n)` inside a Worker ends only the worker, whose "close" event carries n.
 * A Worker costs ≈ 4 ms; a child process of the binary would cost its whole startup, ≈ 20 ms (CONTRIBUTING.md).
 *
 * The worker runs from a Blob URL made of `configWorker`'s own source text, so `bun build --compile` needs no second
 * entrypoint (whose path inside the binary would depend on the build's root). Hence `configWorker` and
 * `errorParts` use nothing from this module's scope, only globals and their parameters.
 */
import { parseDurationMs } from "../core/duration.ts";
import { GotunnelError } from "../core/errors.ts";
import { tooDeepError } from "./depth.ts";
import { formatPath } from "./field-path.ts";

/** How long a JS/TS config may take to load; `GOTUNNEL_CONFIG_TIMEOUT` ("30s", "1500ms", "2m") changes it. */
export const CONFIG_TIMEOUT_ENV = "GOTUNNEL_CONFIG_TIMEOUT";
export const DEFAULT_CONFIG_TIMEOUT_MS = 10_000;

export function configTimeoutMs(env: Record<string, string | undefined>): number {
  const text = env[CONFIG_TIMEOUT_ENV];
  if (text === undefined || text.trim() === "") return DEFAULT_CONFIG_TIMEOUT_MS;
  const ms = parseDurationMs(text);
  if (ms === undefined || ms <= 0) {
    throw new GotunnelError(
      "E_CONFIG_INVALID",
      `environment variable ${CONFIG_TIMEOUT_ENV}: expected a duration like 30s, 1500ms or 2m (found ${JSON.stringify(text)})`,
      { hint: `e.g. ${CONFIG_TIMEOUT_ENV}=30s, or unset it for the default (${DEFAULT_CONFIG_TIMEOUT_MS / 1000} s)` },
    );
  }
  return ms;
}

/** One error from importing a config: a thrown error, or one of Bun's build messages (with a position). */
export interface ErrorPart {
  message: string;
  line?: number;
  column?: number;
}

/** What the worker sends back: plain data only, since it crosses threads by structured clone. */
type Reply =
  | { kind: "value"; value: unknown }
  | { kind: "threw"; errors: ErrorPart[] }
  | { kind: "too-deep" }
  | { kind: "not-data"; path: string[]; found: string };

type Outcome = Reply | { kind: "timeout" } | { kind: "exited"; code: number };

/** A config module threw (or did not compile): load.ts formats `parts` like any other load error. */
export class ConfigModuleError extends Error {
  constructor(readonly parts: ErrorPart[]) {
    super(parts.map((part) => part.message).join("\n"));
  }
}

/** Bun reports a syntax error as an AggregateError of BuildMessages, each with a position. */
export function errorParts(error: unknown): ErrorPart[] {
  const parts: unknown[] = error instanceof AggregateError ? error.errors : [error];
  return parts.map((part) => {
    if (typeof part !== "object" || part === null) return { message: String(part) };
    const { message, position } = part as { message?: unknown; position?: { line?: unknown; column?: unknown } };
    const text = String(message ?? part);
    const line = position?.line;
    const column = position?.column;
    return typeof line === "number" && typeof column === "number" ? { message: text, line, column } : { message: text };
  });
}

/** The worker's whole program. Runs in another thread from its source text: see the module comment. */
function configWorker(toParts: typeof errorParts): void {
  // Identity, like schema.ts's defineConfig: it exists for the config's types. `import "gotunnel"` must work in any
  // project, with no node_modules/gotunnel, and inside the compiled binary: a runtime plugin serves it.
  const defineConfig = (config: unknown) => config;
  Bun.plugin({
    name: "gotunnel-virtual",
    setup(build) {
      build.module("gotunnel", () => ({ exports: { defineConfig }, loader: "object" }));
    },
  });
  // The first function or symbol in `value` (structured clone cannot carry them), found without recursion.
  const firstNonData = (value: unknown): { path: string[]; found: string } | undefined => {
    const seen = new Set<unknown>();
    const pending: [unknown, string[]][] = [[value, []]];
    for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
      const [node, path] = next;
      if (typeof node === "function" || typeof node === "symbol") return { path, found: `a ${typeof node}` };
      if (typeof node !== "object" || node === null || seen.has(node)) continue;
      seen.add(node);
      for (const [key, child] of Object.entries(node)) pending.push([child, [...path, key]]);
    }
    return undefined;
  };
  addEventListener("message", async (event) => {
    let value: unknown;
    try {
      const module: Record<string, unknown> = await import((event as MessageEvent<string>).data);
      value = module.default;
    } catch (error) {
      postMessage({ kind: "threw", errors: toParts(error) });
      return;
    }
    try {
      postMessage({ kind: "value", value });
    } catch (error) {
      // Structured clone recurses: a value nested thousands deep overflows it (RangeError).
      if (error instanceof RangeError) postMessage({ kind: "too-deep" });
      else postMessage({ kind: "not-data", ...(firstNonData(value) ?? { path: [], found: String(error) }) });
    }
  });
}

let workerUrl: string | undefined;

function configWorkerUrl(): string {
  workerUrl ??= URL.createObjectURL(
    new Blob([`(${configWorker.toString()})(${errorParts.toString()})`], { type: "text/javascript" }),
  );
  return workerUrl;
}

/** The config module's default export (undefined when it has none), or a GotunnelError naming what went wrong. */
export async function importConfigModule(file: string, timeoutMs: number): Promise<unknown> {
  const worker = new Worker(configWorkerUrl());
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const outcome = await new Promise<Outcome>((resolve) => {
      timer = setTimeout(() => resolve({ kind: "timeout" }), timeoutMs);
      worker.addEventListener("message", (event: MessageEvent<Reply>) => resolve(event.data));
      // Only process.exit() (or self.close()) ends the worker before it replies.
      worker.addEventListener("close", (event) => resolve({ kind: "exited", code: (event as CloseEvent).code }));
      // An error the config threw outside the import, e.g. from a timer callback it started.
      worker.addEventListener("error", (event) => resolve({ kind: "threw", errors: [{ message: event.message }] }));
      worker.postMessage(file);
    });
    return settle(outcome, file, timeoutMs);
  } finally {
    clearTimeout(timer);
    // Also ends whatever the config left running (timers, sockets) once its value is in hand.
    worker.terminate();
  }
}

function settle(outcome: Outcome, file: string, timeoutMs: number): unknown {
  switch (outcome.kind) {
    case "value":
      return outcome.value;
    case "threw":
      throw new ConfigModuleError(outcome.errors);
    case "too-deep":
      throw tooDeepError(file);
    case "not-data":
      throw new GotunnelError(
        "E_CONFIG_INVALID",
        `Invalid gotunnel config: ${file}: ${formatPath(outcome.path)} is ${outcome.found}; a config holds plain data.`,
        {
          hint: "Use numbers, strings, booleans, arrays and plain objects; call functions while the config loads and export their results.",
          details: { file, path: outcome.path },
        },
      );
    case "exited":
      throw new GotunnelError(
        "E_CONFIG_LOAD",
        `Could not load ${file}: it called process.exit(${outcome.code}) while loading.`,
        {
          hint: "A config file must not end the process: throw an Error to report a problem, or export the config.",
          details: { file, exitCode: outcome.code },
        },
      );
    case "timeout":
      throw new GotunnelError(
        "E_CONFIG_LOAD",
        `Could not load ${file}: it did not finish loading within ${formatSeconds(timeoutMs)}: does it loop or await something that never settles?`,
        {
          hint: `Make its top-level code finish (no endless loop, no server, no await on a request that never ends). On a slow machine, allow more time: ${CONFIG_TIMEOUT_ENV}=30s.`,
          details: { file, timeoutMs },
        },
      );
  }
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
