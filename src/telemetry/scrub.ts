/**
 * The privacy rule for everything sent to Sentry (README "Errors to Sentry"): no domain, IP address, URL, absolute
 * path, username or host name leaves the machine. Every string of an event is rewritten, whatever field it sits in,
 * because an error message can quote any of them ("ENOTDIR: not a directory, open '/home/ana/hosts'").
 * Replacement over-reaches on purpose: `service.ts` also looks like a domain and becomes `<domain>`; a lost file name
 * is cheap, a leaked project name is not. Kept: error codes (E_IO), exit codes, versions, stack function names.
 * Credentials go first (core/redact.ts, the one redaction every output uses), so a secret-looking `?token=` value
 * outside any URL or path pattern below is gone too.
 */
import { homedir, hostname, userInfo } from "node:os";
import { redactSecrets } from "../core/redact.ts";

type Env = Record<string, string | undefined>;

/** The machine's own secrets, found once at start: literal strings replaced before the patterns run. */
export interface ScrubSecrets {
  /** Home directories (os.homedir, HOME, GOTUNNEL_HOME): replaced by `<path>` wherever they appear. */
  paths: string[];
  /** Login names (os.userInfo, USER, LOGNAME, SUDO_USER): `<user>` where they stand as a word. */
  users: string[];
  /** This machine's host name, dotted or not: `<host>`. */
  hosts: string[];
}

/** Top-level fields that only ever identify the user, the machine or the request: dropped, not rewritten. */
const DROPPED_FIELDS = ["request", "user", "server_name"] as const;

/**
 * Keys whose values are SDK vocabulary or ours, not user data: ids, levels, `op` names, stack function names.
 * Rewriting them would break Sentry's grouping. Anything else (an error's `type` included) goes through the scrubber.
 */
const KEPT_VALUES = new Set([
  "event_id",
  "trace_id",
  "span_id",
  "parent_span_id",
  "op",
  "origin",
  "function",
  "level",
  "platform",
  "release",
  "environment",
  "timestamp",
  "start_timestamp",
  "sentry.op",
  "sentry.origin",
  "sentry.source",
]);
/** Subtrees written by the SDK about itself (name, version, integration names). */
const KEPT_TREES = new Set(["sdk"]);
/** Semantic-convention keys (`sentry.op`, `thread.id`) stay; any other key is rewritten like a value. */
const CONVENTION_KEY =
  /^(?:sentry|otel|thread|code|process|runtime|server|client|network|http|url|gotunnel)(?:\.[a-z_]+)+$/;
const MAX_DEPTH = 24;
const MIN_SECRET_LENGTH = 2;

const URL_PATTERN = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'`<>]+/gi;
const WINDOWS_PATH = /(?<![\p{L}\p{N}_])[a-z]:[\\/][^\s"'`<>|]*/giu;
const UNC_PATH = /\\\\[^\s"'`<>|\\]+\\[^\s"'`<>|]*/g;
const HOME_PATH = /(?<![\p{L}\p{N}_])~[\\/][^\s"'`<>|]*/gu;
/** A `/` that starts a token: after the start, whitespace, a quote, a bracket or `=`/`:`/`,` (not `a/b`, `1/2`). */
const UNIX_PATH = /(?<=^|[\s"'`([{=:,;@])\/[^\s"'`()[\]{}<>,;]+/g;
const PATH_TAIL = "[^\\s\"'`()[\\]{}<>,;]*";
/**
 * A stack frame's file as the compiled binary reports it: a path inside our own bundle (from its source map), never
 * a path on the user's machine. Kept, with the frame's module, so Sentry can show where in gotunnel it failed.
 */
const BUNDLED_SOURCE = /^(?:src|node_modules)\/(?:[\w@-][\w@.-]*\/)*[\w@-][\w@.-]*$/;
/** `[::1]` as in a URL or `host:port` text; the port after it stays. */
const BRACKETED_IPV6 = /\[[0-9a-f:.]*:[0-9a-f:.]*(?:%[\w.-]+)?\]/gi;
const IPV6_CANDIDATE =
  /(?<![\p{L}\p{N}_:.])(?:[0-9a-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{1,4})?(?:%[\w.-]+)?(?![\p{L}\p{N}_:])/giu;
const IPV4 = /(?<![\p{N}.])\d{1,3}(?:\.\d{1,3}){3}(?![\p{N}]|\.\d)/gu;
/** Dotted names whose last label starts with a letter (so `0.1.0` stays); IDN labels and `*.` wildcards included. */
const DOMAIN =
  /(?<![\p{L}\p{N}_-])(?<!(?<!\*)\.)(?:[\p{L}\p{N}_](?:[\p{L}\p{N}_-]*[\p{L}\p{N}_])?\.)+\p{L}(?:[\p{L}\p{N}-]*[\p{L}\p{N}])?\.?(?![\p{L}\p{N}_-])/gu;

/** A `::`, eight groups or a hex letter: what tells an IPv6 address from a clock time like `12:30:45`. */
function looksLikeIpv6(candidate: string): boolean {
  const bare = candidate.replace(/%.*$/, "");
  if (bare.includes("::")) return true;
  if (bare.split(":").length === 8) return true;
  return /[a-f]/i.test(bare) && !/[g-z]/i.test(bare) && bare.split(":").length >= 3;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Longest first. A word (user, host) must stand alone: `ana` is not replaced inside `banana`. A path takes the rest
 * of its token with it, so `/home/ana/secret-app/x` becomes `<path>`, not `<path>/secret-app/x`.
 */
function literalPattern(values: string[], kind: "word" | "path"): RegExp | undefined {
  const unique = [...new Set(values.filter((value) => value.length >= MIN_SECRET_LENGTH))];
  if (unique.length === 0) return undefined;
  const body = `(?:${unique
    .sort((a, b) => b.length - a.length)
    .map(escapeRegExp)
    .join("|")})`;
  return kind === "word"
    ? new RegExp(`(?<![\\p{L}\\p{N}_])${body}(?![\\p{L}\\p{N}_])`, "giu")
    : new RegExp(`${body}${PATH_TAIL}`, "gu");
}

function safely<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    // os.userInfo() throws when the uid has no passwd entry (containers): nothing to scrub then.
    return undefined;
  }
}

export function scrubSecrets(env: Env = process.env): ScrubSecrets {
  const present = (values: (string | undefined)[]) => values.filter((value): value is string => Boolean(value));
  const host = safely(hostname);
  return {
    paths: present([safely(homedir), env.HOME, env.USERPROFILE, env.GOTUNNEL_HOME]).filter((path) => path !== "/"),
    users: present([safely(() => userInfo().username), env.USER, env.LOGNAME, env.USERNAME, env.SUDO_USER]),
    hosts: present([host, host?.split(".")[0]]),
  };
}

export type TextScrubber = (text: string) => string;

/** The string rewrite, compiled once for these secrets. */
export function textScrubber(secrets: ScrubSecrets): TextScrubber {
  const paths = literalPattern(secrets.paths, "path");
  const users = literalPattern(secrets.users, "word");
  const hosts = literalPattern(secrets.hosts, "word");
  return (text) => {
    const redacted = redactSecrets(text);
    let out = paths ? redacted.replace(paths, "<path>") : redacted;
    out = out
      .replace(URL_PATTERN, "<url>")
      .replace(UNC_PATH, "<path>")
      .replace(WINDOWS_PATH, "<path>")
      .replace(HOME_PATH, "<path>")
      .replace(UNIX_PATH, "<path>")
      .replace(BRACKETED_IPV6, "<ip>")
      .replace(IPV6_CANDIDATE, (match) => (looksLikeIpv6(match) ? "<ip>" : match))
      .replace(IPV4, "<ip>")
      .replace(DOMAIN, "<domain>");
    if (hosts) out = out.replace(hosts, "<host>");
    return users ? out.replace(users, "<user>") : out;
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isBundledFrame(value: Record<string, unknown>): boolean {
  const { filename, module, abs_path: absPath } = value;
  return (
    typeof filename === "string" &&
    BUNDLED_SOURCE.test(filename) &&
    !filename.split("/").includes("..") &&
    (absPath === undefined || absPath === filename) &&
    (module === undefined || (typeof module === "string" && /^[\w@.:$<>-]*$/.test(module)))
  );
}

/** A scrubbed copy of any JSON-like value: every string value and free-form key rewritten. */
export function scrubValue(value: unknown, scrub: TextScrubber, depth = 0): unknown {
  if (typeof value === "string") return scrub(value);
  if (depth > MAX_DEPTH) return "<truncated>";
  if (Array.isArray(value)) return value.map((item) => scrubValue(item, scrub, depth + 1));
  if (!isPlainObject(value)) return value;
  if (isBundledFrame(value)) {
    const { filename, module, ...rest } = value;
    return { ...(scrubValue(rest, scrub, depth + 1) as object), filename, module };
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const kept = KEPT_TREES.has(key) || (KEPT_VALUES.has(key) && typeof item !== "object");
    out[CONVENTION_KEY.test(key) ? key : scrub(key)] = kept ? item : scrubValue(item, scrub, depth + 1);
  }
  return out;
}

/**
 * A Sentry event (error or transaction) or breadcrumb, scrubbed: the identifying fields dropped, the rest
 * rewritten. `sdkProcessingMetadata` is the SDK's in-process scratch space (scopes, not sent): left alone.
 */
export function scrubEvent<T extends object>(event: T, scrub: TextScrubber): T {
  const { sdkProcessingMetadata, ...rest } = event as Record<string, unknown>;
  for (const field of DROPPED_FIELDS) delete rest[field];
  const out = scrubValue(rest, scrub) as Record<string, unknown>;
  if (sdkProcessingMetadata !== undefined) out.sdkProcessingMetadata = sdkProcessingMetadata;
  return out as T;
}
