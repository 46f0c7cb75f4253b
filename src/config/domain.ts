/**
 * The two strings users type to define a route: its name and its upstream target. One module decides what each
 * may be, for the config file and for `start --domain/--port` alike.
 *
 * Names: every accepted name ends up as a line in the hosts file and as a certificate SAN. A space, `#` or
 * newline that slipped through would corrupt the hosts file (`#` starts a comment there) or inject a line. So
 * nothing is trimmed or repaired silently; the only rewrites are the documented ones (lower case, IDN to
 * punycode, `.local` appended to a dotless name).
 */
import { domainToASCII } from "node:url";
import { GotunnelError } from "../core/errors.ts";

/** `gotunnel start -d demo` means `demo.local`: the Go tool's rule, kept so existing scripts keep working. */
export const DEFAULT_TLD = "local";
/** RFC 1035 §2.3.4: 63 octets per label. */
export const MAX_LABEL_CHARS = 63;
/** RFC 1035 §2.3.4 allows 255 octets on the wire, which is 253 characters in dotted text form. */
export const MAX_NAME_CHARS = 253;
const WILDCARD_PREFIX = "*.";
/** Upstreams are connected to, so 0 is meaningless there (RFC 6335 §6: port 0 is reserved). */
export const UPSTREAM_PORT_MIN = 1;
export const PORT_MAX = 65_535;
/** A port alone means this host, as in the Go tool (`start -p 3000`). */
export const DEFAULT_UPSTREAM_HOST = "localhost";

export interface DomainName {
  /** Lower-case ASCII (punycode) name; keeps the `*.` prefix for a wildcard route. */
  name: string;
  /** True for `*.example.local`: the route answers every direct subdomain. */
  wildcard: boolean;
}

export type DomainCheck = { ok: true; value: DomainName } | { ok: false; reason: string };

export const DOMAIN_HINT =
  'Use letters, digits and hyphens separated by dots, e.g. "myapp.local", "api.myapp.local" or "*.myapp.local" ("demo" means "demo.local").';

/** Validates and normalizes a route name; throws `E_DOMAIN_INVALID` saying exactly what is wrong. */
export function normalizeDomain(input: string): DomainName {
  const result = checkDomain(input);
  if (result.ok) return result.value;
  throw new GotunnelError("E_DOMAIN_INVALID", `Invalid domain name ${JSON.stringify(input)}: ${result.reason}.`, {
    hint: DOMAIN_HINT,
    details: { input, reason: result.reason },
  });
}

/** The non-throwing form, so the config loader can report every bad name at once. */
export function checkDomain(input: string): DomainCheck {
  if (input.length === 0) return fail("it is empty");
  if (input.trim() !== input) return fail("it has leading or trailing whitespace");
  const badChar = firstForbiddenChar(input);
  if (badChar) return fail(badChar);
  const wildcard = input.startsWith(WILDCARD_PREFIX);
  const rest = wildcard ? input.slice(WILDCARD_PREFIX.length) : input;
  if (rest.includes("*")) return fail('"*" is only allowed as the whole first label, as in "*.myapp.local"');
  const dotProblem = dotsProblem(rest);
  if (dotProblem) return fail(dotProblem);
  const labels = rest.split(".");
  // WHATWG host parsing (behind domainToASCII) turns a numeric last label into an IPv4 address ("1.2" becomes
  // "1.0.0.2"), and a name ending in a number is an address, not a host name (RFC 3696 §2).
  const last = labels[labels.length - 1] ?? "";
  if (/^(0x[0-9a-f]*|[0-9]+)$/i.test(last)) {
    return fail(`the last label ${JSON.stringify(last)} is numeric, which makes it look like an IP address`);
  }
  const ascii = domainToASCII(rest.toLowerCase());
  if (ascii === "") return fail("it is not a valid internationalized domain name (UTS #46)");
  const name = ascii.includes(".") ? ascii : `${ascii}.${DEFAULT_TLD}`;
  const labelProblem = name
    .split(".")
    .map(checkLabel)
    .find((problem) => problem !== undefined);
  if (labelProblem) return fail(labelProblem);
  const full = wildcard ? `${WILDCARD_PREFIX}${name}` : name;
  if (full.length > MAX_NAME_CHARS) {
    return fail(`it is ${full.length} characters long; the limit is ${MAX_NAME_CHARS} (RFC 1035 §2.3.4)`);
  }
  return { ok: true, value: { name: full, wildcard } };
}

function fail(reason: string): DomainCheck {
  return { ok: false, reason };
}

/** ASCII letters, digits, `-`, `.` and `*` pass here; non-ASCII is left to the IDN conversion. */
function firstForbiddenChar(input: string): string | undefined {
  let position = 0;
  for (const char of input) {
    position += 1;
    if (/[a-z0-9.*-]/i.test(char)) continue;
    if ((char.codePointAt(0) ?? 0) > 0x7f && !/\s/u.test(char)) continue;
    return describeChar(char, position);
  }
  return undefined;
}

/** [what it is, why it matters]; the reason is shown after the position. */
const CHAR_NAMES: Record<string, [string, string?]> = {
  " ": ["a space"],
  "\t": ["a tab"],
  "\n": ["a newline"],
  "\r": ["a carriage return"],
  "#": ['"#"', "it starts a comment in the hosts file"],
  "/": ['a slash "/"', "a route name is a host name, not a URL"],
  "\\": ['a backslash "\\"'],
  ":": ['":"', "put the port in the route target, not in the name"],
  "@": ['"@"'],
  _: ['an underscore "_"', "RFC 1123 host names allow only letters, digits and hyphens"],
};

function describeChar(char: string, position: number): string {
  const codePoint = char.codePointAt(0) ?? 0;
  const hex = `U+${codePoint.toString(16).toUpperCase().padStart(4, "0")}`;
  const [name, reason] = CHAR_NAMES[char] ?? [
    codePoint < 0x20 || codePoint === 0x7f
      ? `a control character (${hex})`
      : /\s/u.test(char)
        ? `whitespace (${hex})`
        : JSON.stringify(char),
  ];
  return `it contains ${name} at position ${position}${reason ? ` (${reason})` : ""}`;
}

function dotsProblem(rest: string): string | undefined {
  if (rest.length === 0) return "the name after the wildcard is empty";
  if (rest.startsWith(".")) return "it starts with a dot";
  if (rest.endsWith(".")) return 'it ends with a dot (write "myapp.local", not "myapp.local.")';
  if (rest.includes("..")) return "it has an empty label (two dots in a row)";
  return undefined;
}

function checkLabel(label: string): string | undefined {
  const quoted = JSON.stringify(label);
  if (label.length === 0) return "it has an empty label";
  if (label.length > MAX_LABEL_CHARS) {
    return `label ${quoted} is ${label.length} characters long; the limit is ${MAX_LABEL_CHARS} (RFC 1035 §2.3.4)`;
  }
  if (!/^[a-z0-9-]+$/.test(label)) return `label ${quoted} may only contain letters, digits and hyphens (RFC 1123)`;
  if (label.startsWith("-")) return `label ${quoted} starts with a hyphen`;
  if (label.endsWith("-")) return `label ${quoted} ends with a hyphen`;
  return undefined;
}

/** Where a route forwards to. `hostname` is bare (IPv6 without brackets) so it can go to `Bun.connect`. */
export interface UpstreamTarget {
  protocol: "http:" | "https:";
  hostname: string;
  port: number;
  /** URL origin form, e.g. `http://[::1]:3000`. */
  origin: string;
}

export function portTarget(portNumber: number): UpstreamTarget {
  const hostname = DEFAULT_UPSTREAM_HOST;
  return { protocol: "http:", hostname, port: portNumber, origin: `http://${hostname}:${portNumber}` };
}

export const TARGET_EXAMPLE = 'e.g. 3000, "http://127.0.0.1:8080", "https://localhost:8443" or "localhost:3000"';

/** Parses a string target. Returns the target, or a sentence saying what is wrong with it. */
export function parseTarget(input: string): UpstreamTarget | string {
  if (input.length === 0) return `expected a port or a URL, ${TARGET_EXAMPLE}`;
  if (input.trim() !== input) return "the target has leading or trailing whitespace";
  if (/^[0-9]+$/.test(input)) {
    const portNumber = Number(input);
    if (portNumber < UPSTREAM_PORT_MIN || portNumber > PORT_MAX) return outOfRange(portNumber);
    return portTarget(portNumber);
  }
  // "localhost:3000" would parse as a URL with the scheme "localhost:", so only "://" marks a scheme.
  const hasScheme = input.includes("://");
  const text = hasScheme ? input : `http://${input}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // URL's TypeError says only "Invalid URL"; the common cause worth naming is a port above 65535.
    const portText = /:([0-9]+)\/?$/.exec(text)?.[1];
    if (portText && Number(portText) > PORT_MAX) return outOfRange(Number(portText));
    return `the target is not a valid URL; expected ${TARGET_EXAMPLE}`;
  }
  // Without a scheme the port is what makes "localhost:3000" a target; a bare word ("abc") is a typo, not port 80.
  // (url.port is "" for an explicit default port, so "localhost:80" is checked on the text.)
  if (!hasScheme && !/:[0-9]+\/?$/.test(input)) {
    return `a target without a scheme needs a port, e.g. "localhost:3000" or "http://${input}"`;
  }
  return checkTargetUrl(url, input);
}

function outOfRange(portNumber: number): string {
  return `port ${portNumber} is out of range; expected ${UPSTREAM_PORT_MIN} to ${PORT_MAX}`;
}

function checkTargetUrl(url: URL, input: string): UpstreamTarget | string {
  const onlyOrigin = 'a target is scheme://host:port only, e.g. "http://127.0.0.1:8080"';
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return `the scheme is ${JSON.stringify(url.protocol)}; only http: and https: upstreams are supported`;
  }
  if (url.username !== "" || url.password !== "") {
    return "the URL contains credentials; send them with the route's `headers` (e.g. authorization) instead";
  }
  if (url.pathname !== "/") return `the URL has a path ${JSON.stringify(url.pathname)}; ${onlyOrigin}`;
  if (url.search !== "" || input.includes("?")) return `the URL has a query string; ${onlyOrigin}`;
  if (url.hash !== "" || input.includes("#")) return `the URL has a fragment; ${onlyOrigin}`;
  const portNumber = url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
  if (portNumber < UPSTREAM_PORT_MIN) return outOfRange(portNumber);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return { protocol: url.protocol, hostname, port: portNumber, origin: url.origin };
}
