/**
 * The one module that reads and writes the hosts file. Everything about its text lives in block.ts; this file
 * adds the path, the write only when the bytes change, the atomic replace and the errors users see.
 *
 * The file is read and written as latin1, one char per byte: the block is ASCII, and any other byte (UTF-8
 * comments, a legacy code page on Windows, invalid UTF-8) goes back out exactly as it came in. Decoding as UTF-8
 * would turn invalid bytes into U+FFFD and rewrite them.
 */
import { randomBytes } from "node:crypto";
import type { Stats } from "node:fs";
import { type FileHandle, lstat, open, readFile, realpath, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, win32 } from "node:path";
import { diskFullError, GotunnelError, isDiskFull } from "../core/errors.ts";
import { DEFAULT_ADDRESSES, type Eol, namesInBlock, planHostsNames, renderHosts, type SkippedName } from "./block.ts";

export const HOSTS_FILE_ENV = "GOTUNNEL_HOSTS_FILE";
/** Mode for a hosts file gotunnel has to create (only ever at a GOTUNNEL_HOSTS_FILE path): world-readable. */
const NEW_FILE_MODE = 0o644;
/** The temp file is private until it has its final mode and owner. */
const TEMP_FILE_MODE = 0o600;
/** Errors that mean "not allowed": the user can fix them with sudo / an Administrator terminal. */
const PERMISSION_CODES = new Set(["EACCES", "EPERM", "EROFS"]);
/**
 * rename() over the file failed but writing it in place may work: EBUSY when the file is a bind-mount target
 * (Docker and other containers bind-mount /etc/hosts), EXDEV across devices, EPERM/EACCES from a sticky or locked
 * directory entry (Windows locks the hosts file while antivirus scans it).
 */
const RENAME_FALLBACK_CODES = new Set(["EBUSY", "EXDEV", "EPERM", "EACCES"]);

export type WriteMethod = "rename" | "in-place";

export interface ApplyHostsOptions {
  /** Addresses each name maps to; default 127.0.0.1 and ::1. */
  addresses?: readonly string[];
  /** Picks the line ending of a new or empty file and the wording of the permission hint. */
  platform?: NodeJS.Platform;
}

export interface ApplyHostsResult {
  /** False when the file already held exactly this block: nothing was written. */
  changed: boolean;
  /** Names given no entry (localhost names, wildcards): the caller warns about the wildcards. */
  skipped: SkippedName[];
  /** How the file was written; null when unchanged. "in-place" means it was not atomic (see writeInPlace). */
  method: WriteMethod | null;
}

/** `GOTUNNEL_HOSTS_FILE` if set, else the OS's hosts file. */
export function hostsFilePath(
  env: Record<string, string | undefined> = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  const override = env[HOSTS_FILE_ENV];
  if (override) return override;
  if (platform !== "win32") return "/etc/hosts";
  // %SystemRoot% is usually C:\Windows; a plain object passed by a caller is case-sensitive, unlike process.env.
  const systemRoot = env.SystemRoot ?? env.SYSTEMROOT ?? env.windir ?? "C:\\Windows";
  return win32.join(systemRoot, "System32", "drivers", "etc", "hosts");
}

/** The file's text (latin1, see above); "" when it does not exist. */
export async function readHosts(path: string): Promise<string> {
  try {
    return await readFile(path, "latin1");
  } catch (error) {
    if (errorCode(error) === "ENOENT") return "";
    throw error;
  }
}

/**
 * Sets gotunnel's block in the hosts file at `path` to exactly `names` ([] removes it). Invalid names throw
 * E_DOMAIN_INVALID before the file is opened; I/O failures throw E_IO naming the file and the affected names.
 */
export async function applyHostsNames(
  path: string,
  names: readonly string[],
  options: ApplyHostsOptions = {},
): Promise<ApplyHostsResult> {
  const plan = planHostsNames(names);
  const platform = options.platform ?? process.platform;
  const defaultEol: Eol = platform === "win32" ? "\r\n" : "\n";
  let current: string | undefined;
  try {
    const target = await resolveTarget(path);
    const existing = await statIfExists(target);
    current = existing ? await readFile(target, "latin1") : "";
    const next = renderHosts(current, plan.names, { addresses: options.addresses ?? DEFAULT_ADDRESSES, defaultEol });
    if (next === current) return { changed: false, skipped: plan.skipped, method: null };
    const method = await writeHosts(target, Buffer.from(next, "latin1"), existing, platform);
    return { changed: true, skipped: plan.skipped, method };
  } catch (error) {
    throw hostsError(error, path, plan.names, current, platform);
  }
}

/** Follows a symlink (NixOS links /etc/hosts into /etc/static): renaming onto the link would replace the link. */
async function resolveTarget(path: string): Promise<string> {
  const link = await lstat(path).catch((error: unknown) => {
    if (errorCode(error) === "ENOENT") return undefined;
    throw error;
  });
  return link?.isSymbolicLink() ? await realpath(path) : path;
}

async function statIfExists(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * Atomic replace: write a temp file in the same directory, give it the original mode and owner, fsync, rename
 * over the file, fsync the directory. A reader (every name lookup) sees the old file or the new one, never half.
 * When that cannot work but the file itself is writable, write in place instead (see writeInPlace).
 */
async function writeHosts(
  target: string,
  content: Buffer,
  existing: Stats | undefined,
  platform: NodeJS.Platform,
): Promise<WriteMethod> {
  const tempPath = join(
    dirname(target),
    `.${basename(target)}.gotunnel-${process.pid}-${randomBytes(4).toString("hex")}`,
  );
  let handle: FileHandle;
  try {
    handle = await open(tempPath, "wx", TEMP_FILE_MODE);
  } catch (error) {
    // The directory is not writable for us (e.g. /etc is read-only but the hosts file was made writable).
    if (existing && PERMISSION_CODES.has(errorCode(error) ?? "")) return writeInPlace(target, content);
    throw error;
  }
  try {
    await fillTemp(handle, content, existing, platform);
  } catch (error) {
    await discardTemp(handle, tempPath);
    // Not root and the file belongs to someone else: a rename would change its owner, an in-place write keeps it.
    if (existing && errorCode(error) === "EPERM") return writeInPlace(target, content);
    throw error;
  }
  await handle.close();
  try {
    await rename(tempPath, target);
  } catch (error) {
    await rm(tempPath, { force: true });
    if (existing && RENAME_FALLBACK_CODES.has(errorCode(error) ?? "")) return writeInPlace(target, content);
    throw error;
  }
  if (platform !== "win32") await syncDirectory(dirname(target));
  return "rename";
}

async function fillTemp(
  handle: FileHandle,
  content: Buffer,
  existing: Stats | undefined,
  platform: NodeJS.Platform,
): Promise<void> {
  await handle.writeFile(content);
  // Windows has no POSIX owner or mode bits to carry over; the file's ACL comes from the directory.
  if (platform !== "win32") {
    if (existing) await handle.chown(existing.uid, existing.gid);
    await handle.chmod(existing ? existing.mode & 0o7777 : NEW_FILE_MODE);
  }
  await handle.sync();
}

async function discardTemp(handle: FileHandle, tempPath: string): Promise<void> {
  await handle.close();
  await rm(tempPath, { force: true });
}

/** Makes the rename itself durable: without it a crash can bring back the old directory entry. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Fallback: overwrite the file's own bytes (write from offset 0, then truncate to the new length). Not atomic: a
 * lookup during the write can see a mix of old and new lines. It is the only way when rename cannot replace the
 * file: a bind-mounted /etc/hosts (rename over a mount point fails with EBUSY), a directory we may not create
 * files in, or an owner we may not set. The inode, mode, owner, ACLs and SELinux label stay as they were.
 *
 * A longer file needs new blocks, which a full disk refuses: the part past the old end is written first, so that
 * failure (ENOSPC) is met before any old byte is overwritten, and the file is cut back to its old length.
 * Overwriting blocks the file already has needs no new space (on copy-on-write file systems it may, and then this
 * fallback cannot promise more than any in-place write).
 */
async function writeInPlace(target: string, content: Buffer): Promise<WriteMethod> {
  const handle = await open(target, "r+");
  try {
    const { size } = await handle.stat();
    if (content.length > size) {
      try {
        await writeFully(handle, content.subarray(size), size);
      } catch (error) {
        await handle.truncate(size);
        throw error;
      }
    }
    await writeFully(handle, content.subarray(0, Math.min(size, content.length)), 0);
    await handle.truncate(content.length);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return "in-place";
}

/** write(2) may stop short (a disk filling up); keep going until all of `bytes` is written or it fails. */
async function writeFully(handle: FileHandle, bytes: Buffer, position: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

/** E_IO whose message says which names will not resolve (or which stale ones stay) because of this failure. */
function hostsError(
  error: unknown,
  path: string,
  wanted: readonly string[],
  current: string | undefined,
  platform: NodeJS.Platform,
): unknown {
  if (error instanceof GotunnelError) return error;
  const code = errorCode(error);
  if (code === undefined) return error;
  const present = current === undefined ? [] : namesInBlock(current);
  const missing = wanted.filter((name) => !present.includes(name));
  const stale = present.filter((name) => !wanted.includes(name));
  const effects = [
    missing.length > 0 ? `${listNames(missing)} will not resolve on this machine` : "",
    stale.length > 0 ? `stale entries for ${listNames(stale)} stay in it` : "",
  ].filter((effect) => effect !== "");
  const details = { path, code, missing, stale };
  const consequence = effects.length > 0 ? `: ${effects.join("; ")}` : "";
  if (isDiskFull(error)) {
    // The temp file could not be written: the hosts file itself is as it was.
    const full = diskFullError(error, path, dirname(path));
    return new GotunnelError("E_IO", `${full.message}${consequence}.`, { hint: full.hint, cause: error, details });
  }
  const permission = PERMISSION_CODES.has(code);
  const what = permission ? "permission denied" : code;
  const message = `Cannot update ${path} (${what})${consequence}.`;
  const hint = !permission
    ? undefined
    : platform === "win32"
      ? `Run gotunnel from a terminal opened with "Run as administrator" so it can edit ${path}.`
      : `Run gotunnel with sudo so it can edit ${path}.`;
  return new GotunnelError("E_IO", message, { hint, cause: error, details });
}

function listNames(names: readonly string[]): string {
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  return typeof error.code === "string" ? error.code : undefined;
}
