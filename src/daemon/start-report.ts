/**
 * How a daemon that fails to start tells the command that spawned it why (port in use, broken CA, full disk): through
 * an inherited pipe, not a file, because the failure may be that no file can be written. The spawning command passes
 * the pipe as fd 3 and names it in GOTUNNEL_START_REPORT_FD; the daemon writes one JSON record on failure, or just
 * closes it once it serves, and the command reads until end of file (s6's notification-fd works the same way).
 */
import { closeSync, writeSync } from "node:fs";
import { type ErrorCode, GotunnelError, isGotunnelError } from "../core/errors.ts";

export const START_REPORT_ENV = "GOTUNNEL_START_REPORT_FD";
/** The first descriptor after stdin, stdout and stderr. */
export const START_REPORT_FD = 3;

interface StartErrorRecord {
  code: ErrorCode;
  message: string;
  hint?: string;
  details?: Record<string, unknown>;
}

/** The daemon's end of the pipe, if it was started with one; removed from `env` so nothing it spawns inherits it. */
export function takeStartReport(env: Record<string, string | undefined> = process.env): StartReport {
  const fd = Number(env[START_REPORT_ENV]);
  delete env[START_REPORT_ENV];
  return new StartReport(Number.isInteger(fd) && fd > 2 ? fd : undefined);
}

export class StartReport {
  #fd: number | undefined;

  constructor(fd: number | undefined) {
    this.#fd = fd;
  }

  /** Sends why startup failed (only gotunnel's own errors: a bug is for the log's stack trace) and closes the pipe. */
  failed(error: unknown): void {
    if (this.#fd === undefined) return;
    if (isGotunnelError(error)) {
      const record: StartErrorRecord = { code: error.code, message: error.message };
      if (error.hint !== undefined) record.hint = error.hint;
      if (error.details !== undefined) record.details = error.details;
      try {
        writeSync(this.#fd, `${JSON.stringify(record)}\n`);
      } catch (writeError) {
        // EPIPE: the command that started us is gone, and nobody is left to tell.
        if ((writeError as NodeJS.ErrnoException).code !== "EPIPE") throw writeError;
      }
    }
    this.close();
  }

  /** The daemon serves: end of file tells the command so (it also sees the control socket answer). */
  close(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/** The command's side: the daemon's error from what it wrote before it exited; undefined when it wrote nothing. */
export function parseStartReport(text: string): GotunnelError | undefined {
  const line = text.split("\n").find((candidate) => candidate.trim() !== "");
  if (line === undefined) return undefined;
  const record = JSON.parse(line) as StartErrorRecord;
  return new GotunnelError(record.code, record.message, {
    ...(record.hint === undefined ? {} : { hint: record.hint }),
    ...(record.details === undefined ? {} : { details: record.details }),
  });
}
