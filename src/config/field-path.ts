/** A config field's path as users read it in error messages. */

const IDENTIFIER_RE = /^[A-Za-z_$][\w$]*$/;

/** `routes["api.myapp.local"].target`: dotted where the key is an identifier, bracketed JSON otherwise. */
export function formatPath(path: readonly string[]): string {
  if (path.length === 0) return "(top level)";
  return path
    .map((key, index) => (IDENTIFIER_RE.test(key) ? `${index === 0 ? "" : "."}${key}` : `[${JSON.stringify(key)}]`))
    .join("");
}
