/**
 * "Copy as curl" for a request the dashboard shows: the command that sends it again from a terminal, through
 * gotunnel, with the route's certificate checked against gotunnel's CA.
 */

/** Fields curl sets itself from the command line, or that describe one connection (RFC 9110 §7.6.1). */
const LEFT_OUT = new Set(["host", "content-length", "connection", "keep-alive", "transfer-encoding", "upgrade", "te"]);

export interface CurlInput {
  method: string;
  /** The URL as the client sent it: `https://myapp.local:8443/path?q`. */
  url: string;
  headers: [string, string][];
  /** The captured body as text, when there was one (undefined: none, or not captured). */
  body?: string;
  caPath: string;
}

/** A POSIX shell word: single-quoted, with each `'` closed, escaped and reopened. */
export function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

export function curlCommand(input: CurlInput): string {
  const words = ["curl", "--cacert", shellQuote(input.caPath)];
  if (input.method !== "GET" || input.body !== undefined) words.push("-X", shellQuote(input.method));
  for (const [name, value] of input.headers) {
    if (!LEFT_OUT.has(name.toLowerCase())) words.push("-H", shellQuote(`${name}: ${value}`));
  }
  if (input.body !== undefined) words.push("--data-binary", shellQuote(input.body));
  words.push(shellQuote(input.url));
  return words.join(" ");
}
