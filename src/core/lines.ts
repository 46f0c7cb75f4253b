/**
 * Text lines from a byte stream: the NDJSON a child or an engine writes. A line may arrive split across chunks, or
 * several in one chunk; each is yielded once, trimmed, blank ones skipped, and the last one even without its newline.
 */
export async function* textLines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of body) {
    pending += decoder.decode(chunk, { stream: true });
    let newline = pending.indexOf("\n");
    while (newline !== -1) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line) yield line;
      newline = pending.indexOf("\n");
    }
  }
  const last = (pending + decoder.decode()).trim();
  if (last) yield last;
}
