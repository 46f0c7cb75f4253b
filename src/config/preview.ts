/**
 * A short preview of a found value for an error message ("expected a port (found 70000)"). It stops writing at
 * the limit instead of serialising everything first: a YAML file of nested aliases (a "billion laughs") is a few
 * lines on disk but expands to gigabytes, and JSON.stringify of it took 30 s before the preview cut it to 80 chars.
 * Recursion is bounded: every loaded value was checked against MAX_CONFIG_DEPTH first (depth.ts).
 */

const PREVIEW_MAX_CHARS = 80;

export function preview(value: unknown, maxChars = PREVIEW_MAX_CHARS): string {
  let text = "";
  const emit = (part: string): boolean => {
    text += part;
    return text.length <= maxChars;
  };
  const write = (node: unknown): boolean => {
    if (typeof node === "function") return emit("a function");
    if (typeof node === "bigint") return emit(`${node}n`);
    if (typeof node !== "object" || node === null) return emit(JSON.stringify(node) ?? String(node));
    if (typeof (node as { toJSON?: unknown }).toJSON === "function") return write((node as Date).toJSON());
    const array = Array.isArray(node);
    if (!emit(array ? "[" : "{")) return false;
    const entries = Object.entries(node);
    for (const [index, [key, child]] of entries.entries()) {
      if (index > 0 && !emit(",")) return false;
      if (!array && !emit(`${JSON.stringify(key)}:`)) return false;
      if (!write(child)) return false;
    }
    return emit(array ? "]" : "}");
  };
  write(value);
  return text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
}
