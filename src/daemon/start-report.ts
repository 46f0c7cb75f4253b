/**
 * How a daemon that fails to start tells the command that spawned it why (port in use, broken CA, full disk): on
 * POSIX through an inherited pipe, not a file, because the failure may be that no file can be written. The spawning
 * command passes the pipe as fd 3 and names it in GOTUNNEL_START_REPORT (`fd:3`); the daemon writes one JSON record
 * on failure, or just closes it once it serves, and the command reads until end of file (s6's notification-fd works
 * the same way). Windows has no descriptors beyond stdio to inherit, so there the record goes to a file in the state
 * dir (`file:<path>`), written atomically, which a full disk can stop.
 */
import { randomBytes } from "node:crypto";
import { closeSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { type ErrorCode, GotunnelError, isGotunnelError } from "../core/errors.ts";
import { existingOwnedDir, withOwnedDir } from "../platform/safe-fs.ts";

export const START_REPORT_ENV = "GOTUNNEL_START_REPORT";
/** The first descriptor after stdin, stdout and stderr. */
const START_REPORT_FD = 3;
const REPORT_FILE_PREFIX = "daemon-start-error";
const REPORT_FILE_MODE = 0o600;
/** The state dir's mode (state.ts), for the rare case the report creates it. */
const REPORT_DIR_MODE = 0o700;

interface StartErrorRecord {
  code: ErrorCode;
  message: string;
  hint?: string;
  details?: Record<string, unknown>;
}

/** The command's side: what to give the daemon, and how to read its report once it has exited. */
export interface StartReportChannel {
  env: Record<string, string>;
  /** Extra stdio entries after stdin, stdout and stderr. */
  stdio: "pipe"[];
  /** Starts reading (call right after spawning); resolves with the report's text, "" when there is none. */
  reader(childStdio: readonly unknown[]): ReportReader;
}

/**
 * The report's text, once the daemon has exited or served. `settled`, where the channel can tell, resolves as soon
 * as the daemon is done starting either way (POSIX: it closed its end of the pipe), so the command waiting for it
 * need not wait for its next poll of the socket. Windows has no such signal: the file appears only on failure.
 */
export type ReportReader = (() => Promise<string>) & { settled?: Promise<void> };

export function startReportChannel(stateDir: string, platform: NodeJS.Platform = process.platform): StartReportChannel {
  if (platform !== "win32") {
    return {
      env: { [START_REPORT_ENV]: `fd:${START_REPORT_FD}` },
      stdio: ["pipe"],
      reader(childStdio) {
        const fd = childStdio[START_REPORT_FD];
        const text = typeof fd === "number" ? readPipe(fd) : Promise.resolve("");
        return Object.assign(() => text, { settled: text.then(() => undefined) });
      },
    };
  }
  const name = `${REPORT_FILE_PREFIX}.${randomBytes(8).toString("hex")}.json`;
  return {
    env: { [START_REPORT_ENV]: `file:${join(stateDir, name)}` },
    stdio: [],
    reader: () => async () => takeReportFile(stateDir, name),
  };
}

/**
 * Reads the pipe to end of file, in the background: the daemon closes its end once it serves, or exits. A read
 * failure of our own pipe is treated as an empty report: the command then points to the log. Bun hands the parent's
 * end over to us (Subprocess.stdio), so we close it.
 */
function readPipe(fd: number): Promise<string> {
  return Bun.file(fd)
    .text()
    .catch(() => "")
    .finally(() => closeSync(fd));
}

function takeReportFile(stateDir: string, name: string): string {
  const dir = existingOwnedDir(stateDir);
  if (!dir) return "";
  try {
    const text = dir.readText(name) ?? "";
    dir.remove(name);
    return text;
  } finally {
    dir.close();
  }
}

/** The daemon's side, if it was started with a report channel; the variable is removed so nothing it spawns sees it. */
export function takeStartReport(env: Record<string, string | undefined> = process.env): StartReport {
  const value = env[START_REPORT_ENV] ?? "";
  delete env[START_REPORT_ENV];
  if (value.startsWith("fd:")) {
    const fd = Number(value.slice(3));
    if (Number.isInteger(fd) && fd > 2) return new StartReport({ fd });
  }
  if (value.startsWith("file:")) return new StartReport({ file: value.slice(5) });
  return new StartReport(undefined);
}

type Sink = { fd: number } | { file: string };

export class StartReport {
  #sink: Sink | undefined;

  constructor(sink: Sink | undefined) {
    this.#sink = sink;
  }

  /** Sends why startup failed (only gotunnel's own errors: a bug is for the log's stack trace), then closes. */
  failed(error: unknown): void {
    const sink = this.#sink;
    if (sink === undefined) return;
    if (isGotunnelError(error)) {
      const record: StartErrorRecord = { code: error.code, message: error.message };
      if (error.hint !== undefined) record.hint = error.hint;
      if (error.details !== undefined) record.details = error.details;
      const line = `${JSON.stringify(record)}\n`;
      if ("fd" in sink) writePipe(sink.fd, line);
      else {
        const { file } = sink;
        withOwnedDir(dirname(file), REPORT_DIR_MODE, (dir) => dir.writeAtomic(basename(file), line, REPORT_FILE_MODE));
      }
    }
    this.close();
  }

  /** The daemon serves: end of file tells the command so (it also sees the control socket answer). */
  close(): void {
    const sink = this.#sink;
    this.#sink = undefined;
    if (sink && "fd" in sink) closeSync(sink.fd);
  }
}

function writePipe(fd: number, line: string): void {
  try {
    writeSync(fd, line);
  } catch (error) {
    // EPIPE: the command that started us is gone, and nobody is left to tell.
    if ((error as NodeJS.ErrnoException).code !== "EPIPE") throw error;
  }
}

/** The command's side: the daemon's error from its report; undefined when it reported nothing. */
export function parseStartReport(text: string): GotunnelError | undefined {
  const line = text.split("\n").find((candidate) => candidate.trim() !== "");
  if (line === undefined) return undefined;
  const record = JSON.parse(line) as StartErrorRecord;
  return new GotunnelError(record.code, record.message, {
    ...(record.hint === undefined ? {} : { hint: record.hint }),
    ...(record.details === undefined ? {} : { details: record.details }),
  });
}
