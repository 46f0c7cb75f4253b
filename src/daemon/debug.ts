/**
 * Profiling endpoints, like Go's net/http/pprof: `GET /debug/heap` is a V8 heap snapshot (Bun.generateHeapSnapshot
 * in its "v8" format: Chrome DevTools' Memory tab loads it), and `GET /debug/profile?seconds=N` samples the daemon's
 * JavaScript for N seconds and returns a `.cpuprofile` (the inspector protocol's Profiler domain through
 * node:inspector, which Bun 1.4.5 implements: Chrome DevTools' Performance tab loads it).
 *
 * A heap snapshot holds every string in the daemon's memory: the CA's private key, request headers and cookies,
 * webhook secrets. On the control socket only its owner can ask. The admin port is on loopback, where any local user
 * can connect, so there these endpoints also need the token the daemon writes to a file only its owner can read
 * (DEBUG_TOKEN_FILE in the runtime dir, 0600, new at every start).
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import type { Server } from "bun";
import { withOwnedDir } from "../platform/safe-fs.ts";
import type { TrimStats } from "./idle-trim.ts";

export const DEBUG_TOKEN_FILE = "debug-token";
const TOKEN_BYTES = 32;
const TOKEN_FILE_MODE = 0o600;
const RUNTIME_DIR_MODE = 0o700;
/** Long enough to catch a slow page load or a benchmark's steady state; the bound keeps a forgotten request short. */
export const MAX_PROFILE_SECONDS = 60;
export const DEFAULT_PROFILE_SECONDS = 10;
/** Under Bun's 10 s idle timeout on the control socket, with room for its 4 s timer granularity (CONTRIBUTING). */
const PROFILE_KEEPALIVE_MS = 4_000;
/** JSC samples every millisecond by default too: enough resolution for request handling, little overhead. */
const SAMPLING_INTERVAL_US = 1_000;

export interface DebugOptions {
  /** The admin port: the bearer token is required. The control socket: undefined (its mode is the access control). */
  token?: string;
  server?: Server<undefined>;
  /** The daemon's idle trims (idle-trim.ts), reported by /debug/memory. */
  trim?: { stats(): TrimStats };
}

/** Writes a new token for this daemon's run; returns it and the file. */
export function writeDebugToken(runtimeDir: string): { token: string; file: string } {
  const token = randomBytes(TOKEN_BYTES).toString("hex");
  withOwnedDir(runtimeDir, RUNTIME_DIR_MODE, (dir) => dir.writeAtomic(DEBUG_TOKEN_FILE, `${token}\n`, TOKEN_FILE_MODE));
  return { token, file: join(runtimeDir, DEBUG_TOKEN_FILE) };
}

const fail = (status: number, code: string, message: string, headers: Record<string, string> = {}) =>
  Response.json({ error: { code, message } }, { status, headers });

let profiling = false;
const DEBUG_PATHS = ["/debug/heap", "/debug/profile", "/debug/memory"];

/** The answer for a /debug/heap or /debug/profile request, or undefined for any other path. */
export async function debugResponse(request: Request, options: DebugOptions): Promise<Response | undefined> {
  const url = new URL(request.url);
  if (!DEBUG_PATHS.includes(url.pathname)) return undefined;
  if (request.method !== "GET") return fail(405, "E_METHOD", `${url.pathname} answers GET only`, { allow: "GET" });
  if (options.token !== undefined && !hasToken(request, options.token)) {
    const message = `${url.pathname} needs the daemon's debug token: Authorization: Bearer <the content of ${DEBUG_TOKEN_FILE} in gotunnel's runtime directory>`;
    return fail(401, "E_UNAUTHORIZED", message, { "www-authenticate": 'Bearer realm="gotunnel"' });
  }
  if (url.pathname === "/debug/heap") return heapSnapshot();
  if (url.pathname === "/debug/memory") return memoryReport(url.searchParams.get("gc") === "1", options.trim?.stats());
  const seconds = profileSeconds(url.searchParams.get("seconds"));
  if (seconds === undefined) {
    const message = `seconds must be a whole number from 1 to ${MAX_PROFILE_SECONDS} (default ${DEFAULT_PROFILE_SECONDS})`;
    return fail(400, "E_USAGE", message);
  }
  if (profiling) return fail(409, "E_BUSY", "a CPU profile is being taken already: one at a time");
  // Bun's idle timer runs while a request is answered: without this a profile past it would be cut (CONTRIBUTING).
  options.server?.timeout(request, 0);
  return cpuProfile(seconds, request);
}

function hasToken(request: Request, token: string): boolean {
  const given = Buffer.from(request.headers.get("authorization") ?? "");
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function profileSeconds(value: string | null): number | undefined {
  if (value === null) return DEFAULT_PROFILE_SECONDS;
  if (!/^\d+$/.test(value)) return undefined;
  const seconds = Number(value);
  return seconds >= 1 && seconds <= MAX_PROFILE_SECONDS ? seconds : undefined;
}

function attachment(kind: string): Record<string, string> {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  return {
    "content-type": "application/json",
    "content-disposition": `attachment; filename="gotunnel-${process.pid}-${stamp}.${kind}"`,
    "cache-control": "no-store",
  };
}

/**
 * Where the daemon's memory is: the kernel's view (/proc/self/status: resident anonymous and file-backed pages) and
 * JavaScriptCore's (bun:jsc heapStats: the GC heap and the objects in it). `?gc=1` collects fully first, so what is
 * left is what the daemon holds. No secrets: sizes and counts only.
 */
async function memoryReport(collect: boolean, trim: TrimStats | undefined): Promise<Response> {
  const { heapStats } = await import("bun:jsc");
  if (collect) Bun.gc(true);
  const status = await Bun.file("/proc/self/status")
    .text()
    .catch(() => "");
  const kib = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  };
  const stats = heapStats();
  const kernel = { rss: kib("VmRSS"), rssAnon: kib("RssAnon"), rssFile: kib("RssFile"), peakRss: kib("VmHWM") };
  const heap = {
    heapSize: stats.heapSize,
    heapCapacity: stats.heapCapacity,
    extraMemorySize: stats.extraMemorySize,
    objectCount: stats.objectCount,
    protectedObjectCount: stats.protectedObjectCount,
  };
  return Response.json({
    bytes: { kernel, process: process.memoryUsage(), heap },
    collected: collect,
    trim: trim ?? null,
  });
}

/** Synchronous: the daemon answers nothing else while it is written (tens of milliseconds for a small heap). */
function heapSnapshot(): Response {
  return new Response(Bun.generateHeapSnapshot("v8", "arraybuffer"), { headers: attachment("heapsnapshot") });
}

/**
 * A fresh inspector session per profile: in Bun 1.4.5 a second Profiler.start on one session records no samples,
 * and two sessions profiling at once fail ("Profiler is not started"), hence one profile at a time. The response
 * starts at once and carries a space every PROFILE_KEEPALIVE_MS until the profile follows (JSON allows leading
 * whitespace, RFC 8259 §2): on the control socket `server.timeout(request, 0)` has no effect and Bun's idle timer
 * would cut a profile past 10 s, but a write resets it there.
 */
async function cpuProfile(seconds: number, request: Request): Promise<Response> {
  profiling = true;
  // Imported here, not at the top: an idle daemon that never profiles is 0.5 MiB smaller without the inspector (issue 18).
  const { Session } = await import("node:inspector");
  const session = new Session();
  const post = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
    );
  const done = () => {
    session.disconnect();
    profiling = false;
  };
  try {
    session.connect();
    await post("Profiler.enable");
    await post("Profiler.setSamplingInterval", { interval: SAMPLING_INTERVAL_US });
    await post("Profiler.start");
  } catch (error) {
    done();
    throw error;
  }
  let stopEarly: () => void = () => undefined;
  // A client that gave up gets nothing: stop sampling now.
  request.signal.addEventListener("abort", () => stopEarly());
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = (text: string) => {
        try {
          controller.enqueue(encoder.encode(text));
        } catch {
          // Cancelled: the client went away, and the profile is stopped below all the same.
        }
      };
      const keepAlive = setInterval(() => send(" "), PROFILE_KEEPALIVE_MS);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, seconds * 1000);
        stopEarly = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      clearInterval(keepAlive);
      try {
        const { profile } = (await post("Profiler.stop")) as { profile: unknown };
        await post("Profiler.disable");
        send(JSON.stringify(profile));
        controller.close();
      } catch (error) {
        controller.error(error);
      } finally {
        done();
      }
    },
    cancel: () => stopEarly(),
  });
  return new Response(body, { headers: attachment("cpuprofile") });
}
