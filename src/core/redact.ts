/**
 * Credentials in URLs, hidden before a URL is shown anywhere: `/debug/config`, the daemon log, `gotunnel logs` and
 * `up` lines, config errors, and Sentry events (telemetry/scrub.ts runs this first). One function for all of them,
 * so the list of secret-looking names is written once (and documented in the README, "Credentials in URLs").
 *
 * Only the secret parts change; every other byte stays as it was, so a redacted line still says which endpoint or
 * path was meant. The replacement is `REDACTED`, as OpenTelemetry's semantic conventions spell it for userinfo in
 * `url.full` and for secret values in `url.query` (semconv, "url" attributes).
 */

export const REDACTED = "REDACTED";

/**
 * Parameter names (compared lower-case, `-` and `_` ignored) that are secret as a whole word: `?key=`, `?sig=`.
 * Short, so only an exact match counts (`keyword=` and `author=` are not secrets).
 */
const SECRET_NAMES = new Set(["key", "sig", "auth", "authorization", "pwd", "pass", "jwt", "session", "sid"]);
/**
 * Parts that make any name secret: `access_token`, `X-Amz-Security-Token`, `client_secret`, `X-Amz-Signature`,
 * `X-Goog-Credential`, `api-key`, `AWSAccessKeyId`, `private_key`, `password`, `passwd`.
 */
const SECRET_PARTS = [
  "token",
  "secret",
  "password",
  "passwd",
  "signature",
  "credential",
  "apikey",
  "accesskey",
  "privatekey",
];

/** `scheme://userinfo@`: the userinfo runs to the last `@` before the path, query or fragment (WHATWG URL). */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#"'`<>]*)@/gi;
/** A `name=value` pair after `?`, `&` or `#` (tokens travel in fragments too: OAuth's implicit flow). */
const PARAM = /([?&#])([^=&#?\s"'`<>]+)=([^&#\s"'`<>]*)/g;

/** Whether a query parameter named `name` (raw or percent-encoded) holds a credential. */
export function isSecretParam(name: string): boolean {
  const key = decoded(name).toLowerCase().replace(/[-_]/g, "");
  return SECRET_NAMES.has(key) || SECRET_PARTS.some((part) => key.includes(part));
}

function decoded(text: string): string {
  if (!text.includes("%")) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    // Not valid percent-encoding: the name as written is what a reader sees, so judge that.
    return text;
  }
}

/**
 * `text` with every URL credential replaced: userinfo (`http://user:pass@host` → `http://REDACTED:REDACTED@host`)
 * and the value of each secret-looking parameter (`/x?api_key=abc&page=2` → `/x?api_key=REDACTED&page=2`). Works on
 * a whole URL, an origin-form path, or a log line that quotes either.
 */
export function redactSecrets(text: string): string {
  if (!text.includes("@") && !text.includes("=")) return text;
  return text
    .replace(USERINFO, (_match, scheme: string, userinfo: string) =>
      userinfo === "" ? `${scheme}@` : `${scheme}${userinfo.includes(":") ? `${REDACTED}:${REDACTED}` : REDACTED}@`,
    )
    .replace(PARAM, (match, separator: string, name: string, value: string) =>
      value !== "" && isSecretParam(name) ? `${separator}${name}=${REDACTED}` : match,
    );
}
